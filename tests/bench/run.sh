#!/usr/bin/env bash
# ccrelay's benchmark (`make bench`): the proxy against a C mock upstream, and the mock alone,
# in the same run, on 127.0.0.1 only. Prints one table and writes it to docs/benchmarks.md.
#
#   make bench                 full run (1, 16, 64, 256, 1000 connections), under 15 minutes
#   BENCH_QUICK=1 make bench   1, 64, 1000 connections (translated routes: 64), 3 s runs,
#                              under 3 minutes
#
# Scenarios, each at every connection count, each against ccrelay AND the mock directly:
#   nonstream  "stream": false, the mock answers at once (50-chunk message)
#   stream     "stream": true, 50 deltas written at once
#   paced      "stream": true, 50 deltas 20 ms apart (what users wait on)
#   tool       "stream": true, a tool call whose arguments come in 50 pieces, at once
#              (BENCH_TOOLCONNS connections only: it checks the tool path under load)
# Routes through ccrelay: anthropic (pass-through) at every count, openai and gemini
# (translated) at fewer counts (BENCH_XCONNS). The baseline of every row is the mock's own
# Anthropic endpoint under the same load.
#
# Checks (a failure is shown in the table and makes the script exit 1): every answer 200, every
# stream ends with message_stop with nothing after it and carries all 50 deltas, every
# connection served at least once, nothing aborted at the deadline.
#
# Environment: BUILD (build), SHARED (../shared), BENCH_FIXTURE (a fixture file; default
# claude-code/hello-opus.json), BENCH_DURATION (seconds per run), BENCH_CONNS (list),
# BENCH_ROUTES (list of anthropic openai gemini), BENCH_OUT (docs/benchmarks.md).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
BUILD=${BUILD:-build}
SHARED=${SHARED:-$ROOT/../shared}
MAKE=${MAKE:-make}
QUICK=${BENCH_QUICK:-0}
FIXTURE=${BENCH_FIXTURE:-$SHARED/fixtures/claude-code/hello-opus.json}
OUT=${BENCH_OUT:-docs/benchmarks.md}
CHUNKS=50
PACE_MS=20
if [ "$QUICK" = 1 ]; then
    CONNS=${BENCH_CONNS:-"1 64 1000"}
    DUR=${BENCH_DURATION:-3}
    ROUTES=${BENCH_ROUTES:-"anthropic openai gemini"}
    XCONNS=${BENCH_XCONNS:-"64"}
else
    CONNS=${BENCH_CONNS:-"1 16 64 256 1000"}
    DUR=${BENCH_DURATION:-8}
    ROUTES=${BENCH_ROUTES:-"anthropic openai gemini"}
    XCONNS=${BENCH_XCONNS:-"1 256"} # connection counts for the translated routes
fi
SCENARIOS="nonstream stream paced tool"
TOOLCONNS=${BENCH_TOOLCONNS:-"16"}
# The exact command, with the settings that changed it.
CMDLINE="make bench"
for v in BENCH_QUICK BENCH_DURATION BENCH_CONNS BENCH_XCONNS BENCH_TOOLCONNS BENCH_ROUTES \
    BENCH_FIXTURE BENCH_PROXY; do
    [ -n "${!v:-}" ] && CMDLINE="$v='${!v}' $CMDLINE"
done

die() { echo "bench: $*" >&2; exit 2; }
command -v jq >/dev/null || die "jq is needed to read loadgen's JSON (apt-get install jq)"
[ -f "$FIXTURE" ] || die "no fixture at $FIXTURE (set SHARED or BENCH_FIXTURE)"

# Three processes hold a descriptor per connection (client, proxy both ways, mock).
ulimit -n "$(ulimit -Hn)" 2>/dev/null
need=$(( $(echo $CONNS | tr ' ' '\n' | sort -n | tail -1) * 2 + 256 ))
[ "$(ulimit -n)" -ge "$need" ] || die "ulimit -n is $(ulimit -n), $need needed: raise the hard limit"

TMP=$(mktemp -d /tmp/ccrelay-bench.XXXXXX) || die "mktemp failed"
PIDS=""
cleanup() {
    local rc=$? p i
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for i in $(seq 40); do
        local alive=0
        for p in $PIDS; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.05
    done
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    # A sanitizer build (make BUILD=build-asan SAN=1 bench) reports at exit: show it, and fail.
    if grep -lE 'Sanitizer|runtime error' "$TMP"/*.log >/dev/null 2>&1; then
        for p in $(grep -lE 'Sanitizer|runtime error' "$TMP"/*.log); do
            echo "bench: sanitizer report in $(basename "$p"):" >&2
            head -40 "$p" >&2
        done
        rc=1
    fi
    rm -rf "$TMP"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build ----
echo "== building (bench tools, ccrelay, cpu_bench)"
$MAKE --no-print-directory BUILD="$BUILD" bench-tools || die "the bench tools do not build"
PROXY_NOTE=""
if ! $MAKE --no-print-directory BUILD="$BUILD" -j2 "$BUILD/ccrelay" >"$TMP/make-ccrelay.log" 2>&1; then
    PROXY_NOTE="ccrelay does not build on this tree ($(tail -1 "$TMP/make-ccrelay.log")): proxy rows skipped"
fi
CPU_BENCH_OUT=""
if $MAKE --no-print-directory BUILD="$BUILD" "$BUILD/bench/cpu_bench" >"$TMP/make-cpu.log" 2>&1; then
    CPU_BENCH_OUT=$(CCRELAY_SHARED="$SHARED" timeout 120 "$BUILD/bench/cpu_bench" 2>&1) ||
        CPU_BENCH_OUT="cpu_bench failed:
$CPU_BENCH_OUT"
else
    CPU_BENCH_OUT="cpu_bench does not build on this tree: $(tail -3 "$TMP/make-cpu.log")"
fi
MOCK=$BUILD/bench/mock_upstream
LOADGEN=$BUILD/bench/loadgen
PROXY=${BENCH_PROXY:-$BUILD/ccrelay} # BENCH_PROXY: another ccrelay binary to measure

# ---- processes ----
# start_mock NAME ARGS...: starts a mock on a free port, sets ${NAME}_PORT and ${NAME}_PID.
start_mock() {
    local name=$1
    shift
    "$MOCK" --port 0 --quiet --lifetime 1800 "$@" >"$TMP/$name.port" 2>"$TMP/$name.log" &
    local pid=$!
    PIDS="$PIDS $pid"
    local i
    for i in $(seq 100); do
        grep -q '^port ' "$TMP/$name.port" 2>/dev/null && break
        sleep 0.05
    done
    local port
    port=$(awk '/^port /{print $2}' "$TMP/$name.port")
    [ -n "$port" ] || die "mock $name did not start: $(cat "$TMP/$name.log")"
    eval "${name}_PORT=$port ${name}_PID=$pid"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# start_proxy PROVIDER: ccrelay with every route on PROVIDER; sets PROXY_PORT, PROXY_PID,
# PROXY_START_MS. Returns 1 when it does not come up.
start_proxy() {
    local provider=$1 try port t0 i
    for try in 1 2 3 4 5; do
        port=$(( 20000 + RANDOM % 30000 ))
        port_free "$port" || continue
        cat >"$TMP/config.json" <<EOF
{"HOST": "127.0.0.1", "PORT": $port, "LOG_LEVEL": "warn",
 "LIMITS": {"max_connections": 4096},
 "Providers": [
  {"name": "mockant", "api_base_url": "http://127.0.0.1:$FAST_PORT/v1/messages", "api_key": "k", "models": ["m1"]},
  {"name": "mockoai", "api_base_url": "http://127.0.0.1:$FAST_PORT/v1/chat/completions", "api_key": "k", "models": ["m1"]},
  {"name": "mockgem", "api_base_url": "http://127.0.0.1:$FAST_PORT/v1beta/models/", "api_key": "k", "models": ["m1"]},
  {"name": "pacedant", "api_base_url": "http://127.0.0.1:$PACED_PORT/v1/messages", "api_key": "k", "models": ["m1"]},
  {"name": "pacedoai", "api_base_url": "http://127.0.0.1:$PACED_PORT/v1/chat/completions", "api_key": "k", "models": ["m1"]},
  {"name": "pacedgem", "api_base_url": "http://127.0.0.1:$PACED_PORT/v1beta/models/", "api_key": "k", "models": ["m1"]},
  {"name": "toolant", "api_base_url": "http://127.0.0.1:$TOOL_PORT/v1/messages", "api_key": "k", "models": ["m1"]},
  {"name": "tooloai", "api_base_url": "http://127.0.0.1:$TOOL_PORT/v1/chat/completions", "api_key": "k", "models": ["m1"]},
  {"name": "toolgem", "api_base_url": "http://127.0.0.1:$TOOL_PORT/v1beta/models/", "api_key": "k", "models": ["m1"]}],
 "Router": {"default": "$provider,m1", "background": "$provider,m1", "think": "$provider,m1",
            "longContext": "$provider,m1", "webSearch": "$provider,m1", "image": "$provider,m1"}}
EOF
        t0=$(now_ms)
        "$PROXY" serve --config "$TMP/config.json" --port "$port" >>"$TMP/proxy.log" 2>&1 &
        PROXY_PID=$!
        PIDS="$PIDS $PROXY_PID"
        for i in $(seq 500); do
            kill -0 "$PROXY_PID" 2>/dev/null || break
            if ! port_free "$port"; then
                PROXY_PORT=$port
                PROXY_START_MS=$(( $(now_ms) - t0 ))
                return 0
            fi
            sleep 0.01
        done
        stop_proxy
    done
    return 1
}

stop_proxy() {
    kill "$PROXY_PID" 2>/dev/null
    local i
    for i in $(seq 50); do kill -0 "$PROXY_PID" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$PROXY_PID" 2>/dev/null
    wait "$PROXY_PID" 2>/dev/null
    PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$PROXY_PID" | tr '\n' ' ')
}

proc_cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}'; }
proc_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null; }
TICK=$(getconf CLK_TCK)

# loadgen URL CONNS SCENARIO FORMAT-CHECK LABEL: one run, its JSON line on stdout.
loadgen() {
    local url=$1 c=$2 scen=$3 check=$4 label=$5 stream=1 ramp=0
    [ "$scen" = nonstream ] && stream=0
    # Paced streams start spread over one answer's length and stay spread (users do not all
    # press enter in the same millisecond); the fast scenarios start at once.
    [ "$scen" = paced ] && ramp=$((CHUNKS * PACE_MS))
    timeout $(( DUR + 90 )) "$LOADGEN" --url "$url" --fixture "$FIXTURE" --stream $stream \
        -c "$c" -d "$DUR" --ramp $ramp --timeout 30000 $check --label "$label" \
        -H "anthropic-version: 2023-06-01" -H "x-api-key: bench" 2>>"$TMP/loadgen.log" ||
        echo "{\"label\":\"$label\",\"failed\":1,\"first_failure\":\"loadgen exited with an error\"}"
}

# ---- run ----
start_mock FAST --chunks $CHUNKS
start_mock PACED --chunks $CHUNKS --delay $PACE_MS
start_mock TOOL --chunks $CHUNKS --tool
RESULTS=$BUILD/bench/results.jsonl
: >"$RESULTS"
ROWS=""
FAILS=0
HAVE_PROXY=0
[ -n "${BENCH_PROXY:-}" ] && PROXY_NOTE=""
[ -z "$PROXY_NOTE" ] && [ -x "$PROXY" ] && HAVE_PROXY=1

fmt2() { awk -v x="$1" 'BEGIN { printf (x >= 100 ? "%.0f" : (x >= 10 ? "%.1f" : "%.2f")), x }'; }
added() { awk -v a="$1" -v b="$2" 'BEGIN { d = b - a; printf "%s%.2f", (d >= 0 ? "+" : ""), d }'; }

# The mock's own numbers for a row, left in BASE_OUT (not printed: a $(...) subshell would
# lose the cache). The full run measures them right before each ccrelay run, so that both see
# the same machine (it is shared: its load drifts); the quick run measures them once per
# (scenario, conns) and reuses them for every route.
declare -A BASE
baseline() {
    local scen=$1 c=$2 key="$1/$2" port
    if [ -z "${BASE[$key]:-}" ] || [ "$QUICK" != 1 ]; then
        port=$FAST_PORT
        [ "$scen" = paced ] && port=$PACED_PORT
        [ "$scen" = tool ] && port=$TOOL_PORT
        BASE[$key]=$(loadgen "http://127.0.0.1:$port/v1/messages" "$c" "$scen" \
            "$( [ "$scen" = nonstream ] || echo "--expect-deltas $CHUNKS")" "mock/$scen/$c")
        echo "${BASE[$key]}" >>"$RESULTS"
    fi
    BASE_OUT=${BASE[$key]}
}

row_check() { # JSON -> "ok" or a short failure text
    jq -r 'if ((.failed // 0) + (.aborted // 0) + (.unserved_connections // 0)) == 0 then "ok"
           else "FAIL \(.failed // 0) failed, \(.unserved_connections // 0) unserved, \(.aborted // 0) aborted: \(.first_failure // "" | .[0:100])" end' <<<"$1"
}

STARTUP=""
IDLE_KB=""
BUDGET=""
for route in $ROUTES; do
    case $route in
    anthropic) pfx=ant check_route="--expect-deltas $CHUNKS" conns=$CONNS ;;
    openai) pfx=oai check_route="--min-deltas $CHUNKS" conns=$XCONNS ;;
    gemini) pfx=gem check_route="--min-deltas $CHUNKS" conns=$XCONNS ;;
    *) die "unknown route $route (anthropic, openai, gemini)" ;;
    esac
    [ -n "$conns" ] || continue
    # A translated route whose translator is not in this build (cpu_bench says which are) gets
    # one probe request; if that fails, one row says so instead of a sweep of failures.
    if [ $HAVE_PROXY = 1 ] && [ "$route" != anthropic ] &&
        grep -q "$route NO (not on this tree)" <<<"$CPU_BENCH_OUT"; then
        if start_proxy mock$pfx; then
            probe=$(timeout 60 "$LOADGEN" --url "http://127.0.0.1:$PROXY_PORT/v1/messages" \
                --fixture "$FIXTURE" --stream 1 -c 1 -n 1 -d 10 --timeout 5000 2>/dev/null)
            stop_proxy
            if [ "$(jq -r '.ok // 0' <<<"$probe" 2>/dev/null)" != 1 ]; then
                ROWS="$ROWS| $route | - | - | - | - | - | - | - | - | - | - | - | - | - | not in this build: $(jq -r '.first_failure // "no answer"' <<<"$probe" 2>/dev/null | cut -c1-120) |
"
                continue
            fi
        fi
    fi
    for scen in $SCENARIOS; do
        provider=mock$pfx
        [ "$scen" = paced ] && provider=paced$pfx
        [ "$scen" = tool ] && provider=tool$pfx
        check=$check_route
        [ "$scen" = nonstream ] && check=""
        # Translated tool calls arrive as at least one delta: Gemini sends a call whole, and the
        # OpenAI translator buffers arguments by default (conversion.md, "buffered" mode).
        [ "$scen" = tool ] && [ "$route" != anthropic ] && check="--min-deltas 1"
        sc_conns=$conns
        [ "$scen" = tool ] && sc_conns=$TOOLCONNS
        [ -n "$sc_conns" ] || continue
        proxy_up=0
        if [ $HAVE_PROXY = 1 ]; then
            if start_proxy $provider; then
                proxy_up=1
                sleep 0.2
                idle=$(proc_kb "$PROXY_PID" VmRSS)
                # start-up: the best of this run's starts (the poll and a busy machine add noise)
                [ -z "$STARTUP" ] && IDLE_KB=$idle
                [ -z "$STARTUP" ] || [ "$PROXY_START_MS" -lt "$STARTUP" ] && STARTUP=$PROXY_START_MS
            else
                PROXY_NOTE="ccrelay did not start (log: $(tail -2 "$TMP/proxy.log" | tr '\n' ' '))"
            fi
        fi
        for c in $sc_conns; do
            echo "== $route $scen $c connections" >&2
            baseline "$scen" "$c"
            base=$BASE_OUT
            bcheck=$(row_check "$base")
            if [ $proxy_up = 1 ] && kill -0 "$PROXY_PID" 2>/dev/null; then
                t0=$(proc_cpu_ticks "$PROXY_PID")
                res=$(loadgen "http://127.0.0.1:$PROXY_PORT/v1/messages" "$c" "$scen" "$check" \
                    "ccrelay/$route/$scen/$c")
                t1=$(proc_cpu_ticks "$PROXY_PID")
                peak=$(proc_kb "$PROXY_PID" VmHWM)
                echo "$res" >>"$RESULTS"
                pcheck=$(row_check "$res")
                [ -n "$t1" ] || pcheck="FAIL ccrelay died (log: $(tail -1 "$TMP/proxy.log"))"
                cpu=$(jq -r --arg t0 "${t0:-0}" --arg t1 "${t1:-0}" --arg hz "$TICK" \
                    'if .ok > 0 then (($t1|tonumber) - ($t0|tonumber)) * 1000 / ($hz|tonumber) / .ok else 0 end' <<<"$res")
            else
                res='{}'
                pcheck="no proxy"
                cpu=0
                peak=""
            fi
            # numbers: rps, p50, p99, first delta (or first byte) p99
            read -r brps bp50 bp99 bt99 < <(jq -r '[.rps // 0, .latency_ms.p50 // 0, .latency_ms.p99 // 0,
                (if .stream then .first_delta_ms.p99 else .ttfb_ms.p99 end) // 0] | @tsv' <<<"$base")
            read -r prps pp50 pp99 pt99 < <(jq -r '[.rps // 0, .latency_ms.p50 // 0, .latency_ms.p99 // 0,
                (if .stream then .first_delta_ms.p99 else .ttfb_ms.p99 end) // 0] | @tsv' <<<"$res")
            checks="mock $bcheck; proxy $pcheck"
            pok=$(jq -r '.ok // 0' <<<"$res")
            if [ "$pcheck" != "no proxy" ] && [ "$pok" != 0 ] && [ "$scen" = paced ] &&
                [ "$c" -ge 256 ]; then
                BUDGET="$BUDGET- TTFT p99 added, $route paced, $c streams: $(added "$bt99" "$pt99") ms (budget < 5 ms): $(awk -v a="$bt99" -v b="$pt99" 'BEGIN{print (b - a < 5 ? "ok" : "OVER")}')
"
                [ "$c" -ge 1000 ] && BUDGET="$BUDGET- RSS peak, $route paced, $c streams: $(awk -v b="${peak:-0}" 'BEGIN{printf "%.1f MB (budget < 64 MB): %s", b/1024, (b < 65536 ? "ok" : "OVER")}')
"
            fi
            case "$bcheck $pcheck" in *FAIL*) FAILS=$((FAILS + 1)) ;; esac
            if [ "$pcheck" = "no proxy" ] || [ "$pok" = 0 ]; then
                ROWS="$ROWS| $route | $scen | $c | $(fmt2 "$brps") | $( [ "$pok" = 0 ] && [ "$pcheck" != "no proxy" ] && echo 0 || echo -) | - | $(fmt2 "$bp50") | - | $(fmt2 "$bp99") | - | $(fmt2 "$bt99") | - | - | - | $checks |
"
            else
                ratio=$(awk -v a="$brps" -v b="$prps" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')
                ROWS="$ROWS| $route | $scen | $c | $(fmt2 "$brps") | $(fmt2 "$prps") | $ratio | $(fmt2 "$bp50") | $(added "$bp50" "$pp50") | $(fmt2 "$bp99") | $(added "$bp99" "$pp99") | $(fmt2 "$bt99") | $(added "$bt99" "$pt99") | $(awk -v x="$cpu" 'BEGIN{printf "%.3f", x}') | $(awk -v a="$idle" -v b="${peak:-0}" 'BEGIN{printf "%.1f / %.1f", a/1024, b/1024}') | $checks |
"
            fi
        done
        [ $proxy_up = 1 ] && stop_proxy
    done
done

# ---- report ----
CPU_MODEL=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
LIBEVENT=$(pkg-config --modversion libevent 2>/dev/null || echo unknown)
REPORT="# ccrelay benchmarks

Generated by \`tests/bench/run.sh\`; numbers from the last run. What each column means, the
scenarios, and how to read the ratios are described below the tables.

- date: $(date -u '+%Y-%m-%d %H:%M UTC')
- command: \`$CMDLINE\`
- machine: $(nproc) CPUs, $CPU_MODEL (shared with other work: numbers at high connection
  counts include the load client and the mock competing for the same cores)
- ccrelay: \`$(git describe --always --dirty 2>/dev/null || echo unknown)\`, libevent $LIBEVENT
- request: \`$(basename "$FIXTURE")\` ($(jq -c '.body' "$FIXTURE" | wc -c) bytes), $CHUNKS content deltas per answer,
  paced: ${PACE_MS} ms apart; ${DUR} s per run, closed loop
${PROXY_NOTE:+- **note**: $PROXY_NOTE
}
## DESIGN.md budget
${STARTUP:+- start-up to accepting connections (best start of this run): ${STARTUP} ms (budget < 50 ms): $( [ "$STARTUP" -lt 50 ] && echo ok || echo OVER)
- idle RSS: $(awk -v a="$IDLE_KB" 'BEGIN{printf "%.1f MB (budget < 10 MB): %s", a/1024, (a < 10240 ? "ok" : "OVER")}')
}${BUDGET:-- no proxy measurements in this run
}- CPU per request: see the cpu_bench table below

## Load: ccrelay vs. the mock upstream alone

| route | scenario | conns | rps mock | rps ccrelay | rps ratio | p50 ms mock | p50 added | p99 ms mock | p99 added | TTFT p99 mock | TTFT p99 added | ccrelay CPU ms/req | ccrelay RSS MB idle / peak | checks |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
$ROWS
## CPU per request: translation vs. one cJSON parse (\`$BUILD/bench/cpu_bench\`)

\`\`\`
$CPU_BENCH_OUT
\`\`\`

## How to read this

- **route**: the provider format ccrelay talks to upstream (anthropic = pass-through,
  openai / gemini = translated both ways). The mock baseline is always its Anthropic endpoint.
- **scenario**: \`nonstream\` (\`stream: false\`), \`stream\` (all deltas written at once),
  \`tool\` (a tool call whose arguments arrive in $CHUNKS pieces, at once; Gemini sends it whole,
  and translated routes may deliver it as one delta),
  \`paced\` ($CHUNKS deltas ${PACE_MS} ms apart, like a model generating; the connections start
  spread over one answer's length, $((CHUNKS * PACE_MS)) ms, so requests arrive evenly rather than
  in one burst per second).
- **rps ratio**: ccrelay's requests per second over the mock's alone (1.00 = no cost).
- **added**: ccrelay's percentile minus the mock's, in ms. **TTFT**: time to the first
  \`content_block_delta\` (first byte for \`nonstream\`).
- **CPU ms/req**: ccrelay's utime+stime (/proc/PID/stat) over the run divided by the answers;
  10 ms clock ticks, so runs with few requests are coarse.
- **RSS**: VmRSS after start-up / VmHWM after the run (one ccrelay process per route and
  scenario, connection counts in increasing order, so the peak is the peak so far).
- **checks**: every answer 200, every stream ended with \`message_stop\` and nothing after it,
  carried $CHUNKS deltas (at least $CHUNKS text deltas when translated, at least one for a
  translated tool call), every connection was served, nothing
  was still running at the deadline. Raw per-run JSON: \`$RESULTS\`.
- The DESIGN.md budget: CPU per translated request at most 2.5 cJSON parses (see the CPU
  table), TTFT p99 growth under 5 ms with 256 and 1000 paced streams, idle RSS under 10 MB,
  under 64 MB with 1000 streams, start-up under 50 ms. On a 2-core machine the load client,
  the mock and ccrelay share the cores: at 1000 connections the mock alone is already slowed
  (see its own TTFT), so read those rows as ccrelay's cost under contention.

## The tools

All three are built by \`make bench-tools\` (and \`make $BUILD/bench/cpu_bench\`) into
\`$BUILD/bench/\`; \`--help\` prints the options.

- \`mock_upstream [--port N] [--chunks N] [--delay MS] [--first MS] [--tool]\`: one process
  serving Chat Completions (\`/v1/chat/completions\`), Anthropic (\`/v1/messages\`) and Gemini
  (\`/v1beta/models/M:streamGenerateContent\`, \`:generateContent\`), streaming when the request
  says \`"stream": true\`; \`--tool\` answers with a streamed tool call. Prints \`port N\`.
- \`loadgen --url http://127.0.0.1:PORT/v1/messages --fixture FILE -c CONNS -d SECONDS\`:
  closed loop, keep-alive; one JSON line per run (rps, latency / TTFB / first-delta
  percentiles, failures by kind, unserved connections). Loopback targets only.
- \`cpu_bench\`: parse vs. summary vs. each linked translator's build, per fixture.
- Sanitizers: \`make BUILD=build-asan SAN=1 OPT=-O1 bench\` runs everything (ccrelay included)
  under ASan/UBSan and fails on any report.
"
echo
echo "$REPORT"
mkdir -p "$(dirname "$OUT")"
printf '%s' "$REPORT" >"$OUT"
echo "bench: wrote $OUT and $RESULTS"
if [ "$FAILS" -gt 0 ]; then
    echo "bench: $FAILS row(s) failed their checks" >&2
    exit 1
fi
exit 0
