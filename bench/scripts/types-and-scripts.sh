#!/usr/bin/env bash
# Holdfast against redis-server for the data-type and scripting workloads of issues 7
# and 8: redis-benchmark's data-type tests, EVAL/EVALSHA, PUBLISH, and MULTI/EXEC
# (holdfast-bench run, several commands per request). One core each: the server on CPU 1,
# the client on CPU 0, interleaved rounds, medians printed per test.
#
# Usage: bench/scripts/types-and-scripts.sh [ROUNDS] [REQUESTS] [PIPELINE]
#   needs: cargo build --release -p holdfast-server -p holdfast-bench; redis-server and
#   redis-benchmark on PATH. Holdfast runs with --durability none (both in memory only:
#   these compare the engines, not durability).
set -euo pipefail
rounds=${1:-3}
requests=${2:-200000}
pipeline=${3:-1}
root=$(cd "$(dirname "$0")/../.." && pwd)
holdfast=$root/target/release/holdfast-server
bench=$root/target/release/holdfast-bench
work=$(mktemp -d)
trap 'redis-cli -p 7311 shutdown nosave >/dev/null 2>&1 || true; kill $(cat "$work"/hf.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

start_server() { # kind port
    if [ "$1" = redis ]; then
        taskset -c 1 redis-server --port "$2" --save '' --appendonly no --daemonize yes \
            --dir "$work" >/dev/null
    else
        taskset -c 1 "$holdfast" --port "$2" --threads 1 --durability none --dir "$work/hf" \
            >/dev/null 2>&1 &
        echo $! >"$work/hf.pid"
    fi
    for _ in $(seq 100); do redis-cli -p "$2" ping >/dev/null 2>&1 && return; sleep 0.05; done
    echo "server $1 did not start" >&2; exit 1
}

stop_server() { # kind port
    if [ "$1" = redis ]; then redis-cli -p "$2" shutdown nosave >/dev/null 2>&1 || true
    else kill "$(cat "$work/hf.pid")"; wait "$(cat "$work/hf.pid")" 2>/dev/null || true; fi
    sleep 0.3
}

rb() { # port args...: redis-benchmark's requests per second (csv)
    local port=$1; shift
    taskset -c 0 redis-benchmark -p "$port" -c 100 -d 100 -r 1000000 -n "$requests" \
        -P "$pipeline" --csv "$@" \
        | tail -n +2 | awk -F'","' '{gsub(/"/,"",$1); gsub(/"/,"",$2); print $1 "," $2}'
}

run_all() { # kind port -> lines "test,rps"
    local kind=$1 port=$2
    rb "$port" -t lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,lrange_100,lrange_600,mset
    local sha
    sha=$(redis-cli -p "$port" script load "return redis.call('get', KEYS[1])")
    rb "$port" EVAL "return 1" 0 | sed 's/^[^,]*/EVAL return 1/'
    rb "$port" EVALSHA "$sha" 1 key:__rand_int__ | sed 's/^[^,]*/EVALSHA get/'
    rb "$port" PUBLISH channel message | sed 's/^[^,]*/PUBLISH (no subscriber)/'
    local ops
    ops=$(taskset -c 0 "$bench" run -p "$port" -t 1 -c 100 --requests $((requests / 100)) \
        --pipeline "$pipeline" \
        --command "MULTI ; SET k:__key__ __data__ ; INCR c:__key__ ; EXEC" \
        --key-maximum 1000000 -d 100 2>/dev/null | awk '/^Totals/ {print $2}')
    echo "MULTI SET INCR EXEC,$ops"
}

for round in $(seq "$rounds"); do
    for kind in holdfast redis; do
        port=$([ $kind = redis ] && echo 7311 || echo 7312)
        start_server $kind $port
        run_all $kind $port | sed "s/^/$kind,$round,/" >>"$work/results.csv"
        stop_server $kind $port
    done
done

echo "test | holdfast ops/s | redis ops/s | ratio (-P $pipeline, medians of $rounds rounds)"
python3 - "$work/results.csv" <<'EOF'
import csv, statistics, sys, collections
runs = collections.defaultdict(lambda: collections.defaultdict(list))
for kind, _round, test, rps in csv.reader(open(sys.argv[1])):
    try:
        runs[test][kind].append(float(rps))
    except ValueError:
        pass
for test, by in runs.items():
    h, r = statistics.median(by["holdfast"]), statistics.median(by["redis"])
    print(f"{test} | {h:,.0f} | {r:,.0f} | {h / r:.2f}x")
EOF
