#!/usr/bin/env bash
# Do cross-core transactions slow the single-key commands running beside them (issue 8)?
# GET/SET 50:50 alone, then the same with 5% of operations a MULTI of four INCRs on keys
# spread over the cores (with two cores all four land on one core only 1 time in 8).
# Holdfast runs with --threads 2 and redis-server beside it as the reference, both with the
# same client (holdfast-bench run, 2 threads x 25 connections, 1M keys, 100-byte values),
# rounds interleaved, medians of the GET+SET ops/s and p99 printed per server and mix.
#
# Usage: bench/scripts/multi-share.sh [ROUNDS] [SECONDS]
#   needs: cargo build --release -p holdfast-server -p holdfast-bench; redis-server.
set -euo pipefail
rounds=${1:-3}
seconds=${2:-10}
root=$(cd "$(dirname "$0")/../.." && pwd)
holdfast=${HOLDFAST_SERVER:-$root/target/release/holdfast-server}
bench=$root/target/release/holdfast-bench
port=7321
work=$(mktemp -d)
trap 'redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true; kill $(cat "$work"/hf.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

start_server() { # kind
    if [ "$1" = redis ]; then
        redis-server --port $port --save '' --appendonly no --daemonize yes --dir "$work" >/dev/null
    else
        "$holdfast" --port $port --threads 2 --durability none --dir "$work/hf" >/dev/null 2>&1 &
        echo $! >"$work/hf.pid"
    fi
    for _ in $(seq 100); do redis-cli -p $port ping >/dev/null 2>&1 && return; sleep 0.05; done
    echo "server $1 did not start" >&2; exit 1
}

stop_server() { # kind
    if [ "$1" = redis ]; then redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true
    else kill "$(cat "$work/hf.pid")"; wait "$(cat "$work/hf.pid")" 2>/dev/null || true; fi
    sleep 0.3
}

measure() { # mix -> "getset_ops p99_of_get p99_of_set multi_ops"
    local mix=(--command "SET __key__ __data__" --command-ratio 475
               --command "GET __key__" --command-ratio 475)
    if [ "$1" = multi ]; then
        mix+=(--command "MULTI ; INCR a:__key__ ; INCR b:__key__ ; INCR c:__key__ ; INCR d:__key__ ; EXEC"
              --command-ratio 50)
    fi
    "$bench" run -p $port -t 2 -c 25 --test-time "$seconds" --key-maximum 1000000 -d 100 \
        "${mix[@]}" 2>/dev/null \
        | awk '$1 == "SET" {s = $2; sp = $7} $1 == "GET" {g = $2; gp = $7} $1 == "MULTI" {m = $2}
               END {printf "%.0f %s %s %.0f\n", s + g, gp, sp, m}'
}

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

declare -A results
for round in $(seq "$rounds"); do
    for kind in holdfast redis; do
        start_server "$kind"
        for mix in plain multi; do
            results[$kind,$mix]+="$(measure $mix)"$'\n'
        done
        stop_server "$kind"
    done
    echo "round $round done" >&2
done

printf '%-9s %-6s %14s %10s %10s %10s\n' server mix "GET+SET ops/s" "GET p99" "SET p99" "MULTI/s"
for kind in holdfast redis; do
    for mix in plain multi; do
        lines=${results[$kind,$mix]}
        col() { printf '%s' "$lines" | awk -v c="$1" 'NF {print $c}' | median; }
        printf '%-9s %-6s %14s %10s %10s %10s\n' "$kind" "$mix" "$(col 1)" "$(col 2)" "$(col 3)" "$(col 4)"
    done
done
