#!/usr/bin/env bash
# Memory per element of one large hash, set and sorted set (issue 7), Holdfast beside
# redis-server: each server gets 1M members in one key (HSET h f<i> v<i>, SADD s m<i>,
# ZADD z <i> m<i>, 1000 per command through redis-cli --pipe), and used_memory after
# minus before, divided by the members, is printed per type and server.
#
# Usage: bench/scripts/memory-per-element.sh [MEMBERS]
#   needs: cargo build --release -p holdfast-server; redis-server, redis-cli, python3.
#   Holdfast runs with --durability none and one core (the key lives on one core anyway).
set -euo pipefail
members=${1:-1000000}
root=$(cd "$(dirname "$0")/../.." && pwd)
holdfast=$root/target/release/holdfast-server
port=7331
work=$(mktemp -d)
trap 'redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true; kill $(cat "$work"/hf.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

# RESP commands adding $members members to one key of the given type, 1000 per command.
commands() { # type
    python3 - "$1" "$members" <<'EOF'
import sys
kind, n = sys.argv[1], int(sys.argv[2])
out = sys.stdout.buffer
def emit(args):
    out.write(b"*%d\r\n" % len(args))
    for a in args:
        out.write(b"$%d\r\n%s\r\n" % (len(a), a))
for start in range(0, n, 1000):
    r = range(start, min(n, start + 1000))
    if kind == "hash":
        args = [b"HSET", b"h"] + [x for i in r for x in (b"f%d" % i, b"v%d" % i)]
    elif kind == "set":
        args = [b"SADD", b"s"] + [b"m%d" % i for i in r]
    else:
        args = [b"ZADD", b"z"] + [x for i in r for x in (b"%d" % i, b"m%d" % i)]
    emit(args)
EOF
}

used() { redis-cli -p $port info memory | awk -F: '/^used_memory:/ {print $2+0}'; }

start_server() { # kind
    if [ "$1" = redis ]; then
        redis-server --port $port --save '' --appendonly no --daemonize yes --dir "$work" >/dev/null
    else
        "$holdfast" --port $port --threads 1 --durability none --dir "$work/hf" >/dev/null 2>&1 &
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

printf '%-9s %-6s %14s %12s %10s\n' server type "bytes/member" encoding members
for kind in holdfast redis; do
    for type in hash set zset; do
        start_server "$kind"
        before=$(used)
        commands "$type" | redis-cli -p $port --pipe >/dev/null
        sleep 0.5
        after=$(used)
        key=${type:0:1}
        case $type in
            hash) count=$(redis-cli -p $port hlen h) ;;
            set) count=$(redis-cli -p $port scard s) ;;
            *) count=$(redis-cli -p $port zcard z) ;;
        esac
        encoding=$(redis-cli -p $port object encoding "$key")
        printf '%-9s %-6s %14.1f %12s %10s\n' "$kind" "$type" \
            "$(echo "($after - $before) / $members" | bc -l)" "$encoding" "$count"
        stop_server "$kind"
    done
done
