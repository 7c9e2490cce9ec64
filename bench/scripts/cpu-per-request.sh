#!/usr/bin/env bash
# Server CPU time per request for two Holdfast binaries, A/B: on a shared, noisy machine
# ops/s swing by 2x between runs, while the server's own CPU time per request (utime +
# stime from /proc, no hardware counters needed) moves by about 10%. Each round starts
# each binary fresh (--threads 1 --durability none, taskset CPU 1; THREADS=2 runs
# --threads 2 on CPUs 0 and 1), fills 100k keys with SET, then measures N GETs from
# redis-benchmark on CPU 0; rounds interleave A and B and the medians are printed.
# SCRIPT='lua body' measures EVALSHA of that script with one key (key:__rand_int__)
# instead of GET.
#
# Usage: bench/scripts/cpu-per-request.sh A_BINARY B_BINARY [ROUNDS] [N] [-- extra
#        redis-benchmark flags, e.g. -3 for RESP3 or -P 16]
#   needs: redis-benchmark, redis-cli, taskset.
set -euo pipefail
a=$1 b=$2
rounds=${3:-6}
n=${4:-400000}
shift $(( $# < 4 ? $# : 4 ))
[ "${1:-}" = "--" ] && shift
extra=("$@")
port=7612
threads=${THREADS:-1}
cpus=$([ "$threads" = 1 ] && echo 1 || echo 0-$((threads - 1)))
ticks=$(getconf CLK_TCK)
work=$(mktemp -d)
trap 'kill $(cat "$work"/pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for round in $(seq "$rounds"); do
    for bin in "$a" "$b"; do
        taskset -c "$cpus" "$bin" --port $port --threads "$threads" --durability none \
            --dir "$work/hf" >/dev/null 2>&1 &
        pid=$!
        echo $pid >"$work/pid"
        for _ in $(seq 100); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.05; done
        flags=(-p $port -c 100 -d 100 -r 1000000 -q "${extra[@]}")
        taskset -c 0 redis-benchmark "${flags[@]}" -t set -n 100000 >/dev/null
        before=$(cpu_ticks $pid)
        if [ -n "${SCRIPT:-}" ]; then
            sha=$(redis-cli -p $port script load "$SCRIPT")
            taskset -c 0 redis-benchmark "${flags[@]}" -n "$n" EVALSHA "$sha" 1 key:__rand_int__ \
                >/dev/null
        else
            taskset -c 0 redis-benchmark "${flags[@]}" -t get -n "$n" >/dev/null
        fi
        after=$(cpu_ticks $pid)
        us=$(awk -v a="$after" -v b="$before" -v t="$ticks" -v n="$n" \
            'BEGIN { printf "%.2f", (a - b) * 1000000 / t / n }')
        echo "round $round $bin $us" | tee -a "$work/rounds"
        kill $pid; wait $pid 2>/dev/null || true
        rm -rf "$work/hf"
    done
done
label=${SCRIPT:+EVALSHA}
label=${label:-GET}
for bin in "$a" "$b"; do
    median=$(awk -v bin="$bin" '$3 == bin { print $4 }' "$work/rounds" | sort -n |
        awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    echo "median server CPU us per $label: $median  ($bin)"
done
