#!/usr/bin/env bash
# Power-loss test of the log on a real ext4 in a loop-device image (see shared/LAB.md).
#
# Each round: `holdfast-log stress` appends from 16 appenders and prints every acknowledged
# LSN; the writer is frozen (SIGSTOP), the image copied without syncing, the writer killed.
# The copy is what a power cut would leave: data that reached the device; the inner ext4's
# unflushed page cache and uncommitted metadata are gone. The copy is mounted and
# `holdfast-log inspect` must verify every record and end at or after the last acked LSN;
# the next round runs the writer on the copy, so recovery (torn-tail truncation) is
# exercised too. Needs root (losetup, mount).
#
# Usage: log/scripts/power-loss.sh [BIN] (default target/release/holdfast-log)
# Env: ROUNDS (5), SECS (3), SEGMENT_MIB (8: the log rolls and reuses spares),
#      WORK (target/power-loss; must not be on tmpfs).
set -euo pipefail
BIN=$(realpath "${1:-target/release/holdfast-log}")
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-3}
SEGMENT_MIB=${SEGMENT_MIB:-8}
WORK=$(realpath -m "${WORK:-target/power-loss}")
mkdir -p "$WORK/mnt"
img=$WORK/disk.img
LOOP=""
cleanup() {
    mountpoint -q "$WORK/mnt" && umount "$WORK/mnt"
    [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
    return 0
}
trap cleanup EXIT

# A writer killed with SIGKILL releases its files only once the kernel has torn down its
# io_uring, which can finish a moment after `wait` returns: retry while the mount is busy.
unmount() {
    for _ in $(seq 1 50); do
        umount "$WORK/mnt" 2>/dev/null && return 0
        sleep 0.2
    done
    umount "$WORK/mnt"
}

rm -f "$img" && truncate -s 1G "$img" && mkfs.ext4 -q -F "$img"
for round in $(seq 1 "$ROUNDS"); do
    LOOP=$(losetup -f --show "$img")
    mount "$LOOP" "$WORK/mnt"
    "$BIN" stress --segment-mib "$SEGMENT_MIB" "$WORK/mnt/log" > "$WORK/acked.txt" 2> "$WORK/stress.err" &
    pid=$!
    sleep "$SECS"
    kill -STOP "$pid"
    cp --sparse=always "$img" "$WORK/copy.img"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    unmount
    losetup -d "$LOOP"
    LOOP=""
    recovered=$(grep -m1 '^recovered' "$WORK/acked.txt" | awk '{print $4}')
    acked=$(grep '^acked' "$WORK/acked.txt" | awk '{print $2}' | sort -n | tail -1)
    mv "$WORK/copy.img" "$img"
    LOOP=$(losetup -f --show "$img")
    mount "$LOOP" "$WORK/mnt"
    if ! "$BIN" inspect "$WORK/mnt/log" > "$WORK/inspect.txt" 2>&1; then
        cat "$WORK/inspect.txt"
        echo "round $round: FAIL: inspect refused the log after power loss"
        exit 1
    fi
    next=$(grep -o 'next LSN [0-9]*' "$WORK/inspect.txt" | awk '{print $3}')
    tail=$(grep '^tail' "$WORK/inspect.txt")
    segments=$(grep -c '^[0-9]*\.seg ' "$WORK/inspect.txt")
    unmount
    losetup -d "$LOOP"
    LOOP=""
    if [ "$((next - 1))" -lt "$acked" ]; then
        echo "round $round: FAIL: last acked LSN $acked, log ends at $((next - 1))"
        exit 1
    fi
    echo "round $round: started at LSN $recovered, last acked $acked, survived up to $((next - 1)) in $segments segments; $tail"
done
echo "power-loss: $ROUNDS rounds OK"
