#!/usr/bin/env bash
# Reproduces every figure in BENCHMARKS.md on this machine, side by side in one run.
#
#   bench/run.sh            # everything
#   bench/run.sh http       # only the HTTP comparison (hookflow, hand-written axum, adnanh/webhook)
#   bench/run.sh logic      # only flow execution (compiled flows vs Rhai vs hand-written)
#   bench/run.sh build      # only the build loop (flow edit vs main.rs edit, debug and release)
#
# Load goes to 127.0.0.1 only, for a bounded duration (DURATION, default 10s) per server.
# Installs wrk, webhook and hyperfine with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WHAT=${1:-all}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
SECRET=bench-secret
PAYLOAD=$ROOT/tests/fixtures/github/push/payload.json
OUT=$ROOT/target/bench
mkdir -p "$OUT"

need() {
    command -v "$1" >/dev/null 2>&1 && return
    echo "installing $2 (apt-get)" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 did not open" >&2
    return 1
}

# wrk against one server; prints "req/s p50 p99" and the server's peak RSS in KiB.
load() {
    local name=$1 url=$2 pid=$3
    wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$OUT/push.lua" "$url" >"$OUT/$name.wrk"
    local rps p50 p99 rss
    rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/$name.wrk")
    p50=$(awk '$1=="50%" {print $2}' "$OUT/$name.wrk")
    p99=$(awk '$1=="99%" {print $2}' "$OUT/$name.wrk")
    rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    non2xx=$(awk '/Non-2xx/ {print $4}' "$OUT/$name.wrk")
    printf '%-28s %10s req/s  p50 %8s  p99 %8s  peak RSS %6s KiB  non-2xx %s\n' \
        "$name" "$rps" "$p50" "$p99" "$rss" "${non2xx:-0}"
}

http_bench() {
    need wrk wrk
    need webhook webhook
    cargo build --release --quiet
    cargo build --release --quiet --manifest-path bench/Cargo.toml --bin handwritten
    local hookflow=$ROOT/target/release/hookflow
    local handwritten=$ROOT/bench/target/release/handwritten

    # The signed delivery every server receives.
    local sig
    sig=$("$hookflow" signature sign --algorithm sha256 --secret "$SECRET" --body-file "$PAYLOAD" \
        | awk -F': ' 'tolower($1)=="x-hub-signature-256" {print $2}')
    cat >"$OUT/push.lua" <<LUA
local f = io.open("$PAYLOAD", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "push"
wrk.headers["X-Hub-Signature-256"] = "$sig"
-- A delivery id of its own for every request, as GitHub sends: the same id twice would be a
-- repeat, answered from the delivery store without running the flow.
local prefix = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000))
local n = 0
request = function()
    n = n + 1
    wrk.headers["X-GitHub-Delivery"] = prefix .. "-" .. n
    return wrk.format()
end
LUA

    # hookflow with a bundle that checks GitHub's signature.
    cat >"$OUT/answers.json" <<JSON
{"events-webhook": {"enabled": true, "public_base_url": "http://127.0.0.1:8091",
  "signatures": {"github": {"header": "X-Hub-Signature-256", "algorithm": "sha256", "secret": "$SECRET"}}}}
JSON
    rm -rf "$OUT/bundle"
    "$hookflow" setup --answers "$OUT/answers.json" "$OUT/bundle" >/dev/null 2>&1

    # adnanh/webhook with the equivalent rule: payload HMAC-SHA256 plus a header match.
    cat >"$OUT/hooks.json" <<JSON
[{"id": "github", "execute-command": "/bin/true", "response-message": "ok",
  "trigger-rule": {"and": [
    {"match": {"type": "payload-hmac-sha256", "secret": "$SECRET",
               "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}},
    {"match": {"type": "value", "value": "push",
               "parameter": {"source": "header", "name": "X-GitHub-Event"}}}]}}]
JSON

    echo "HTTP: wrk -t1 -c$CONNS -d$DURATION, 7.3 KB signed GitHub push, $(nproc) cores"
    RUST_LOG=warn "$hookflow" serve "$OUT/bundle" --listen 127.0.0.1:8091 >"$OUT/hookflow.log" 2>&1 &
    local p1=$!
    wait_port 8091
    load hookflow http://127.0.0.1:8091/events/webhook/bench/github $p1
    kill $p1; wait $p1 2>/dev/null || true

    "$handwritten" 127.0.0.1:8092 "$SECRET" >/dev/null 2>&1 &
    local p2=$!
    wait_port 8092
    load handwritten-axum http://127.0.0.1:8092/events/webhook/bench/github $p2
    kill $p2; wait $p2 2>/dev/null || true

    webhook -hooks "$OUT/hooks.json" -ip 127.0.0.1 -port 8093 >/dev/null 2>&1 &
    local p3=$!
    wait_port 8093
    load adnanh-webhook http://127.0.0.1:8093/hooks/github $p3
    kill $p3; wait $p3 2>/dev/null || true
}

logic_bench() {
    echo "Flow execution (criterion; compiled flows vs Rhai vs hand-written Rust):"
    cargo bench --quiet --manifest-path bench/Cargo.toml --bench flow_logic -- --noplot 2>&1 \
        | grep -E '^[a-z_/]+ +time:|^[a-z_/]+$|time:' || true
}

# The build loop: `cargo build` after a flow edit against after a main.rs edit (touch: cargo
# tracks both by mtime, through include_bytes! and build.rs rerun-if-changed=flows).
build_bench() {
    need hyperfine hyperfine
    for profile in dev release; do
        local flag=""
        [ "$profile" = release ] && flag=--release
        cargo build $flag --quiet
        echo "Build loop ($profile):"
        hyperfine --style basic --warmup 1 --runs "${RUNS:-5}" \
            --command-name "edit flows/github.yaml" --prepare "touch flows/github.yaml" "cargo build $flag --quiet" \
            --command-name "edit src/main.rs" --prepare "touch src/main.rs" "cargo build $flag --quiet" \
            2>&1 | grep -E "^Benchmark|Time \(mean|faster|±" || true
    done
}

case $WHAT in
http) http_bench ;;
logic) logic_bench ;;
build) build_bench ;;
all)
    http_bench
    logic_bench
    build_bench
    ;;
*)
    echo "usage: bench/run.sh [all|http|logic|build]" >&2
    exit 2
    ;;
esac
