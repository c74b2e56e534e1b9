#!/usr/bin/env bash
# Reproduces every figure in BENCHMARKS.md on this machine, side by side in one run.
#
#   bench/run.sh            # everything
#   bench/run.sh http       # only the HTTP comparison (hookflow, hand-written axum, adnanh/webhook)
#   bench/run.sh logic      # only flow execution (compiled flows vs Rhai vs hand-written)
#   bench/run.sh build      # the build loop (flow edit vs main.rs edit) and `gen`
#   bench/run.sh gen        # only the build time with 200 generated flows of 20 nodes
#
# Load goes to 127.0.0.1 only, for a bounded duration (DURATION, default 10s) per server.
# Installs wrk, webhook and hyperfine with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROOT=$PWD
WHAT=${1:-all}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
SECRET=bench-secret
PAYLOAD=$ROOT/tests/fixtures/github/push/payload.json
OUT=$ROOT/target/bench
declare -A RPS P99
mkdir -p "$OUT"

need() {
    command -v "$1" >/dev/null 2>&1 && return
    echo "installing $2 (apt-get)" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

# wait_port PORT [TENTHS_OF_SECONDS]; the port must be free before (another process answering
# on it would be measured instead).
port_free() {
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
        echo "port $1 is already in use; free it or edit bench/run.sh" >&2
        exit 1
    fi
}

wait_port() {
    for _ in $(seq 1 "${2:-100}"); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 did not open" >&2
    return 1
}

# CPU time (user + system, its children's included) a process has used, in clock ticks.
cpu_ticks() {
    awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"
}

# wrk against one server; prints req/s, p50, p99, the server's peak RSS (VmHWM) and its CPU time
# per request (user + system, children included: less sensitive to a busy machine than req/s).
load() {
    local name=$1 url=$2 pid=$3
    local before after
    before=$(cpu_ticks "$pid")
    wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$OUT/push.lua" "$url" >"$OUT/$name.wrk"
    after=$(cpu_ticks "$pid")
    local rps p50 p99 rss requests cpu
    rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/$name.wrk")
    RPS[$name]=$rps
    p50=$(awk '$1=="50%" {print $2}' "$OUT/$name.wrk")
    p99=$(awk '$1=="99%" {print $2}' "$OUT/$name.wrk")
    P99[$name]=$(awk '$1=="99%" {v = $2; u = v; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u);
        print v * (u == "us" ? 0.001 : u == "s" ? 1000 : 1)}' "$OUT/$name.wrk")
    rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    non2xx=$(awk '/Non-2xx/ {print $4}' "$OUT/$name.wrk")
    requests=$(awk '/requests in/ {print $1}' "$OUT/$name.wrk")
    cpu=$(awk -v t=$((after - before)) -v n="$requests" -v hz="$(getconf CLK_TCK)" \
        'BEGIN {printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0)}')
    printf '%-26s %9s req/s  p50 %8s  p99 %8s  peak RSS %7s KiB  CPU/req %6s us  non-2xx %s\n' \
        "$name" "$rps" "$p50" "$p99" "$rss" "$cpu" "${non2xx:-0}"
}

# The signed delivery every server receives, hookflow's bundle and webhook's hooks file.
http_setup() {
    local hookflow=$ROOT/target/release/hookflow
    # The signed delivery every server receives.
    SIG=$("$hookflow" signature sign --algorithm sha256 --secret "$SECRET" --body-file "$PAYLOAD" \
        | awk -F': ' 'tolower($1)=="x-hub-signature-256" {print $2}')
    push_lua "$OUT/push.lua" "$PAYLOAD" "$SIG"

    # hookflow with a bundle that checks GitHub's signature.
    cat >"$OUT/answers.json" <<JSON
{"events-webhook": {"enabled": true, "public_base_url": "http://127.0.0.1:18091",
  "signatures": {"github": {"header": "X-Hub-Signature-256", "algorithm": "sha256", "secret": "$SECRET"}}}}
JSON
    rm -rf "$OUT/bundle" "$OUT/bundle-work"
    "$hookflow" setup --answers "$OUT/answers.json" "$OUT/bundle" >/dev/null 2>&1
    # The same with `record: work_and_failures`: deliveries answered with nothing left to do
    # (like every push here) are not written to the store: the same work as the hand-written
    # handler.
    sed 's|"enabled": true,|"enabled": true, "record": "work_and_failures",|' "$OUT/answers.json" \
        >"$OUT/answers-work.json"
    "$hookflow" setup --answers "$OUT/answers-work.json" "$OUT/bundle-work" >/dev/null 2>&1

    # adnanh/webhook with the equivalent rule: payload HMAC-SHA256 plus a header match.
    cat >"$OUT/hooks.json" <<JSON
[{"id": "github", "execute-command": "/bin/true", "response-message": "ok",
  "trigger-rule": {"and": [
    {"match": {"type": "payload-hmac-sha256", "secret": "$SECRET",
               "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}},
    {"match": {"type": "value", "value": "push",
               "parameter": {"source": "header", "name": "X-GitHub-Event"}}}]}}]
JSON
    sed 's|"execute-command": "/bin/true"|"execute-command": "/nonexistent/hookflow-bench-no-command"|' \
        "$OUT/hooks.json" >"$OUT/hooks-nocmd.json"

}

http_bench() {
    need wrk wrk
    need webhook webhook
    cargo build --release --quiet
    cargo build --release --quiet --manifest-path bench/Cargo.toml --bin handwritten
    local hookflow=$ROOT/target/release/hookflow
    local handwritten=$ROOT/bench/target/release/handwritten

    http_setup
    for round in $(seq 1 "${ROUNDS:-1}"); do
        [ "${ROUNDS:-1}" = 1 ] || echo "round $round"
        http_round
    done
}

# One run of every server, one after the other (ROUNDS repeats them, to see the drift of a
# shared machine).
http_round() {
    local hookflow=$ROOT/target/release/hookflow
    local handwritten=$ROOT/bench/target/release/handwritten
    echo "HTTP: wrk -t1 -c$CONNS -d$DURATION, 7.3 KB signed GitHub push, $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    # serve_one NAME PORT BUNDLE [ENV...]: hookflow on a fresh state directory.
    serve_one() {
        local name=$1 port=$2 bundle=$3
        shift 3
        rm -rf "$bundle/state"
        port_free "$port"
        env "$@" "$hookflow" serve "$bundle" --listen "127.0.0.1:$port" >"$OUT/$name.log" 2>&1 &
        local pid=$!
        wait_port "$port"
        load "$name" "http://127.0.0.1:$port/events/webhook/bench/github" $pid
        kill $pid
        wait $pid 2>/dev/null || true
    }
    # hookflow as benchmarked against the targets: the delivery log line is filtered out
    # (RUST_LOG=warn), like the hand-written handler, which logs nothing. First with every
    # delivery recorded in the store (the default), then with `record: work_and_failures`.
    serve_one hookflow 18091 "$OUT/bundle" RUST_LOG=warn
    serve_one hookflow-record-work 18096 "$OUT/bundle-work" RUST_LOG=warn

    port_free 18092
    "$handwritten" 127.0.0.1:18092 "$SECRET" >/dev/null 2>&1 &
    local p2=$!
    wait_port 18092
    load handwritten-axum http://127.0.0.1:18092/events/webhook/bench/github $p2
    kill $p2; wait $p2 2>/dev/null || true

    # hookflow with its default logging: one line per delivery, here to a file.
    serve_one hookflow-record-work-log-info 18094 "$OUT/bundle-work"

    # webhook runs a command for every matched hook: /bin/true (a process per request, its normal
    # use) and a command that does not exist (it answers, then fails to start it: no process;
    # the same work as hookflow's GitHub flow, which starts none).
    port_free 18093
    webhook -hooks "$OUT/hooks.json" -ip 127.0.0.1 -port 18093 >/dev/null 2>&1 &
    local p3=$!
    wait_port 18093
    load adnanh-webhook http://127.0.0.1:18093/hooks/github $p3
    kill $p3; wait $p3 2>/dev/null || true

    port_free 18095
    webhook -hooks "$OUT/hooks-nocmd.json" -ip 127.0.0.1 -port 18095 >/dev/null 2>&1 &
    local p5=$!
    wait_port 18095
    load adnanh-webhook-no-process http://127.0.0.1:18095/hooks/github $p5
    kill $p5; wait $p5 2>/dev/null || true
    echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
    ratio() { awk -v a="$2" -v b="$3" -v l="$1" 'BEGIN {printf "  %-62s %6.2fx\n", l, (b > 0 ? a / b : 0)}'; }
    echo "Ratios of this round:"
    ratio "req/s hookflow (record: work_and_failures) / hand-written" "${RPS[hookflow-record-work]}" "${RPS[handwritten-axum]}"
    ratio "p99 hookflow (record: work_and_failures) / hand-written" "${P99[hookflow-record-work]}" "${P99[handwritten-axum]}"
    ratio "req/s hookflow (record: all) / hand-written" "${RPS[hookflow]}" "${RPS[handwritten-axum]}"
    ratio "req/s hookflow (record: work_and_failures) / adnanh-webhook" "${RPS[hookflow-record-work]}" "${RPS[adnanh-webhook]}"
    ratio "req/s hookflow (record: all) / adnanh-webhook" "${RPS[hookflow]}" "${RPS[adnanh-webhook]}"
    ratio "req/s hookflow (record: all) / adnanh-webhook-no-process" "${RPS[hookflow]}" "${RPS[adnanh-webhook-no-process]}"
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
    gen_bench
}

# 200 generated flows of 20 nodes (bench/gen_flows.py) next to the shipped ones, in a copy of the
# repository with its own target dir (seeded from ours, so only the workspace crates build once,
# untimed). Each timed build compiles only the `hookflow` binary crate: the dependencies are
# the same with either set of flows, so the difference between the two sets is also the
# difference between their clean builds.
gen_bench() {
    local copy=$OUT/gen200/repo target=$OUT/gen200/target runs=${GEN_RUNS:-3}
    rm -rf "$copy"
    mkdir -p "$copy" "$target"
    git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$copy"
    local profiles=${GEN_PROFILES:-dev release}
    for profile in ${profiles/dev/debug}; do
        [ -d "$target/$profile" ] || [ ! -d "target/$profile" ] || {
            mkdir -p "$target/$profile"
            for d in build deps .fingerprint; do
                [ -d "target/$profile/$d" ] && cp -r "target/$profile/$d" "$target/$profile/"
            done
        }
    done
    for profile in $profiles; do
        local flag=""
        [ "$profile" = release ] && flag=--release
        (
            cd "$copy"
            export CARGO_TARGET_DIR=$target
            rm -f flows/gen_flow_*.yaml
            cargo build $flag --quiet
            echo "Build time of the binary crate ($profile): shipped flows against + 200 generated flows of 20 nodes"
            hyperfine --style basic --warmup 1 --runs "$runs" \
                --command-name "shipped flows ($(ls flows | wc -l) files): build the binary crate" \
                --prepare "touch src/main.rs" "cargo build $flag --quiet" \
                2>&1 | grep -E "^Benchmark|Time \(mean|±" || true
            python3 "$ROOT/bench/gen_flows.py" flows 200
            cargo build $flag --quiet
            hyperfine --style basic --warmup 0 --runs "$runs" \
                --command-name "+200x20 flows ($(ls flows | wc -l) files): build the binary crate" \
                --prepare "touch src/main.rs" "cargo build $flag --quiet" \
                --command-name "+200x20 flows: edit flows/gen_flow_100.yaml" \
                --prepare "touch flows/gen_flow_100.yaml" "cargo build $flag --quiet" \
                2>&1 | grep -E "^Benchmark|Time \(mean|±" || true
            ls -l "$target/${profile/dev/debug}/hookflow" | awk '{printf "binary with 205 flows: %.1f MiB\n", $5/1048576}'
        )
    done
}

# Instruction counts (callgrind), which do not depend on the machine's load: per delivery for
# the flow-execution engines, per request for the two Rust servers (COUNT_REQUESTS sequential
# keep-alive requests with curl after a warm-up; counters zeroed in between).
# Under valgrind SHA-256 runs without the CPU's SHA extensions, so the HMAC's share is larger
# than on the real CPU; both servers compute the same HMAC.
count_bench() {
    need valgrind valgrind
    need curl curl
    cargo build --release --quiet
    cargo build --release --quiet --manifest-path bench/Cargo.toml --bin handwritten --example logic_count
    local n=${COUNT_DELIVERIES:-20000}
    echo "Instructions per delivery (callgrind, $n deliveries each):"
    for engine in github-compiled github-handwritten github-rhai stripe-compiled stripe-handwritten stripe-rhai; do
        valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.logic.$engine" \
            --toggle-collect='logic_count::deliveries*' \
            bench/target/release/examples/logic_count "$engine" "$n" >/dev/null 2>"$OUT/cg.logic.$engine.log"
        callgrind_annotate "$OUT/cg.logic.$engine" 2>/dev/null | awk -v n="$n" -v e="$engine" \
            '/PROGRAM TOTALS/ {gsub(",", "", $1); printf "  %-20s %8.0f instructions\n", e, $1 / n}'
    done

    local requests=${COUNT_REQUESTS:-2000}
    http_setup
    local hookflow=$ROOT/target/release/hookflow
    local handwritten=$ROOT/bench/target/release/handwritten
    echo "Instructions per request (callgrind, $requests keep-alive requests, signed 7.3 KB push):"
    RUST_LOG=warn count_server hookflow 18191 /events/webhook/bench/github "$requests" \
        "$hookflow" serve "$OUT/bundle" --listen 127.0.0.1:18191
    count_server handwritten-axum 18192 /events/webhook/bench/github "$requests" \
        "$handwritten" 127.0.0.1:18192 "$SECRET"
}

# count_server NAME PORT PATH REQUESTS COMMAND...: the server under callgrind with
# instrumentation off until after a warm-up, then REQUESTS requests, then SIGTERM (the final dump
# also holds the graceful shutdown, a negligible share); prints instructions per request and
# the top functions by self cost, per request.
count_server() {
    local name=$1 port=$2 path=$3 requests=$4
    shift 4
    local cfg=$OUT/curl.$name
    : >"$cfg"
    for _ in $(seq 1 "$requests"); do
        printf 'url = "http://127.0.0.1:%s%s"\noutput = "/dev/null"\n' "$port" "$path" >>"$cfg"
    done
    local curl_args=(-s -f -X POST --data-binary "@$PAYLOAD" -H "Content-Type: application/json"
        -H "X-GitHub-Event: push" -H "X-Hub-Signature-256: $SIG")
    rm -f "$OUT/cg.http.$name"*
    port_free "$port"
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/cg.http.$name" \
        "$@" >/dev/null 2>"$OUT/cg.http.$name.log" &
    local pid=$!
    wait_port "$port" 1800
    head -n 100 "$cfg" | curl "${curl_args[@]}" -K - >/dev/null
    callgrind_control -i on "$pid" >/dev/null
    curl "${curl_args[@]}" -K "$cfg" >/dev/null
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    callgrind_annotate --auto=no --inclusive=no "$OUT/cg.http.$name" 2>/dev/null >"$OUT/cg.http.$name.self.txt"
    callgrind_annotate --auto=no --inclusive=yes "$OUT/cg.http.$name" 2>/dev/null >"$OUT/cg.http.$name.incl.txt"
    awk -v n="$requests" -v e="$name" '/PROGRAM TOTALS/ {t = $1; gsub(",", "", t)}
        /sha2::sha256::compress256/ {c = $1; gsub(",", "", c); sha += c}
        END {printf "  %-18s %8.0f instructions per request, %8.0f without SHA-256 compression\n", e, t / n, (t - sha) / n}' \
        "$OUT/cg.http.$name.self.txt"
    echo "    top functions (self, inlined code merged into its function), instructions per request:"
    awk 'seen < 2 && /file:function/ {seen = 2; next}
        seen == 2 && $1 ~ /^[0-9,]+$/ { c = $1; gsub(",", "", c); f = $0;
            sub(/^ *[0-9,]+ +(\( *[0-9.]+%\) +)?/, "", f); sub(/ \[.*$/, "", f);
            sub(/^[^ ]*(\.rs|\.c|\.S|\.h|\?\?\?):/, "", f); sub(/\x27[0-9]+$/, "", f);
            print c "\t" f }' "$OUT/cg.http.$name.self.txt" |
        awk -F'\t' '{s[$2] += $1} END {for (k in s) print s[k] "\t" k}' | sort -rn | head -n "${COUNT_TOP:-20}" |
        awk -F'\t' -v n="$requests" '{printf "    %8.0f  %s\n", $1 / n, substr($2, 1, 110)}'
}

case $WHAT in
http) http_bench ;;
logic) logic_bench ;;
build) build_bench ;;
gen) gen_bench ;;
count) count_bench ;;
all)
    http_bench
    logic_bench
    build_bench
    ;;
*)
    echo "usage: bench/run.sh [all|http|logic|build|gen|static]" >&2
    exit 2
    ;;
esac
