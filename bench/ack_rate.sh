#!/usr/bin/env bash
# Acknowledged deliveries per second with the durable store, against the same flow with nothing
# after its answer, in one run: the same binary and configuration, each flow on a fresh state
# directory (BENCHMARKS.md, "Durable deliveries").
#
#   bench/ack_rate.sh            # DURATION=10s CONNS=32 by default
#   WORKERS=8 bench/ack_rate.sh  # worker.pool_size (default 32, which keeps up with the load)
#
# The server is the testbed binary (testbed/flows): `bench.plain` answers 202 and is done
# (recorded in the background); `bench.ack` answers the same 202 with a script after its answer,
# so every delivery is committed with its work (fsync, group commit) before the answer and then
# run by a worker. The body is the real 7.3 KB GitHub push payload; every request carries its own
# X-GitHub-Delivery (as GitHub sends), so none is a duplicate. Load goes to 127.0.0.1 only, for a
# bounded duration per flow. Installs wrk with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROOT=$PWD
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
PORT=${PORT:-8095}
PAYLOAD=$ROOT/tests/fixtures/github/push/payload.json
OUT=$ROOT/target/bench/ack
BIN=$ROOT/target/release/hookflow-testbed

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk (apt-get)" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --quiet -p hookflow-testbed

rm -rf "$OUT"
mkdir -p "$OUT/bundle"
# Back-pressure high enough that the run measures the store, not the limit.
WORKER=""
[ -z "${WORKERS:-}" ] || WORKER=", \"worker\": {\"pool_size\": $WORKERS}"
cat >"$OUT/bundle/hookflow.json" <<JSON
{"version": 1, "events-webhook": {"enabled": true, "public_base_url": "http://127.0.0.1:$PORT",
  "max_pending_work": 10000000$WORKER}}
JSON

push_lua "$OUT/post.lua" "$PAYLOAD"

# start NAME: the server on a fresh state directory (each flow is measured on an empty store:
# the second would otherwise insert into the first one's 2 GB of deliveries).
PID=
start() {
    rm -rf "$OUT/bundle/state"
    RUST_LOG=warn "$BIN" serve "$OUT/bundle" --listen "127.0.0.1:$PORT" >"$OUT/$1.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.1
    done
}
stop() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
}
trap stop EXIT

metric() { # metric NAME LABELS: the value of one series from /metrics
    curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" -v l="$2" '$1 == m l {print $2}'
}

# load NAME EVENT_TYPE: wrk against one flow; prints and remembers req/s.
load() {
    wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$OUT/post.lua" \
        "http://127.0.0.1:$PORT/events/webhook/bench/$2" >"$OUT/$1.wrk"
    local rps p50 p99 non2xx
    rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/$1.wrk")
    p50=$(awk '$1=="50%" {print $2}' "$OUT/$1.wrk")
    p99=$(awk '$1=="99%" {print $2}' "$OUT/$1.wrk")
    non2xx=$(awk '/Non-2xx/ {print $4}' "$OUT/$1.wrk")
    printf '%-34s %10s acknowledged/s  p50 %8s  p99 %8s  non-2xx %s\n' \
        "$1" "$rps" "$p50" "$p99" "${non2xx:-0}"
    eval "RPS_$1=$rps"
}

echo "Acknowledged deliveries: wrk -t1 -c$CONNS -d$DURATION, 7.3 KB GitHub push, unique delivery ids, worker.pool_size ${WORKERS:-32 (default)}, $(nproc) cores"
start plain
load plain bench.plain
stop
start durable
load durable bench.ack
# Let the workers finish what the run left pending, and time it.
start=$(date +%s.%N)
drained=no
for _ in $(seq 1 600); do
    pending=$(metric hookflow_work '{state="pending"}')
    running=$(metric hookflow_work '{state="running"}')
    if [ "${pending:-1}" = 0 ] && [ "${running:-1}" = 0 ]; then drained=yes; break; fi
    sleep 0.2
done
drain=$(echo "$(date +%s.%N) - $start" | bc)
[ $drained = yes ] || echo "WARNING: work still pending or running ${drain}s after the run" >&2
commits=$(metric hookflow_store_commit_duration_seconds_count "")
sum=$(metric hookflow_store_commit_duration_seconds_sum "")
done_items=$(sqlite3 "$OUT/bundle/state/hookflow.db" "SELECT COUNT(*) FROM work WHERE status = 'done'")
dead_items=$(sqlite3 "$OUT/bundle/state/hookflow.db" "SELECT COUNT(*) FROM work WHERE status = 'dead'")
stored=$(sqlite3 "$OUT/bundle/state/hookflow.db" "SELECT COUNT(*) FROM deliveries")
echo "work after the answers: $done_items done, $dead_items dead; backlog drained ${drain}s after the run"
echo "store: $stored deliveries stored; $commits commits during the durable run and drain (mean $(echo "scale=3; $sum * 1000 / $commits" | bc) ms)"
echo "ratio durable / nothing after the answer: $(echo "scale=2; $RPS_durable / $RPS_plain" | bc)x (target >= 0.5x)"
