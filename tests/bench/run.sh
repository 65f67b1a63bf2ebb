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
# Also, in the same run:
#   256-byte body  nonstream and stream at 1 connection, mock vs. ccrelay (the size the
#                  gateways' published figures use)
#   start-up       ccrelay's command to its first answered request (best of 5)
#   peers          Claude Code Router 3.1 (tests/bench/peers, npm ci from the lock file) against
#                  the same mock, nonstream and stream at 16 connections (and paced at 256 in
#                  the full run), next to a fresh ccrelay; BENCH_PEERS=0 skips it
#   cpu_bench      translation vs. one cJSON parse, and the policy's cost per request
# and prints the issue's goals as met / NOT MET lines.
#
# Checks (a failure is shown in the table and makes the script exit 1): every answer 200, every
# stream ends with message_stop with nothing after it and carries all 50 deltas, every
# connection served at least once, nothing aborted at the deadline.
#
# Environment: BUILD (build), SHARED (../shared), BENCH_FIXTURE (a fixture file; default
# claude-code/hello-opus.json), BENCH_DURATION (seconds per run), BENCH_CONNS (list),
# BENCH_ROUTES (list of anthropic openai gemini), BENCH_OUT (docs/benchmarks.md), BENCH_PEERS
# (0: no Claude Code Router).
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
# ccrelay runs as a user runs it: one worker process per core by default (BENCH_WORKERS to
# change), its CPU and memory summed over the supervisor and the workers. The memory and
# start-up goals are read off one process (--workers 1) in a section of their own.
WORKERS=${BENCH_WORKERS:-$(nproc)}
TOOLCONNS=${BENCH_TOOLCONNS:-"16"}
# The exact command, with the settings that changed it.
CMDLINE="make bench"
for v in BENCH_QUICK BENCH_DURATION BENCH_CONNS BENCH_XCONNS BENCH_TOOLCONNS BENCH_ROUTES \
    BENCH_FIXTURE BENCH_PROXY BENCH_PEERS BENCH_WORKERS; do
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
    # Claude Code Router runs in its own process group: stop all of it
    [ -n "${CCR_PGID:-}" ] && declare -F stop_ccr >/dev/null && stop_ccr
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

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
# ---- build ----
# The version of the sources the binaries are built from, read now: an edit made while the run
# goes on is not in what it measures.
VERSION_LABEL="$(git describe --always 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- . ':(exclude)docs/benchmarks.md' 2>/dev/null || echo -dirty)"
echo "== building (bench tools, ccrelay, cpu_bench)"
$MAKE --no-print-directory BUILD="$BUILD" bench-tools || die "the bench tools do not build"
PROXY_NOTE=""
if ! $MAKE --no-print-directory BUILD="$BUILD" -j2 "$BUILD/ccrelay" >"$TMP/make-ccrelay.log" 2>&1; then
    PROXY_NOTE="ccrelay does not build on this tree ($(tail -1 "$TMP/make-ccrelay.log")): proxy rows skipped"
fi
CPU_BENCH_OUT=""
if $MAKE --no-print-directory BUILD="$BUILD" "$BUILD/bench/cpu_bench" >"$TMP/make-cpu.log" 2>&1; then
    [ "$QUICK" = 1 ] && export CPU_BENCH_MS=${CPU_BENCH_MS:-25}
    CPU_BENCH_OUT=$(CCRELAY_SHARED="$SHARED" timeout 120 "$BUILD/bench/cpu_bench" 2>&1) ||
        CPU_BENCH_OUT="cpu_bench failed:
$CPU_BENCH_OUT"
else
    CPU_BENCH_OUT="cpu_bench does not build on this tree: $(tail -3 "$TMP/make-cpu.log")"
fi
MOCK=$BUILD/bench/mock_upstream
LOADGEN=$BUILD/bench/loadgen
FLOOR=$BUILD/bench/floor_proxy
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

# start_proxy PROVIDER [WORKERS]: ccrelay with every route on PROVIDER; sets PROXY_PORT, PROXY_PID
# (the supervisor when WORKERS > 1), PROXY_START_MS. Returns 1 when it does not come up.
start_proxy() {
    local provider=$1 workers=${2:-$WORKERS} try port t0 i
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
        "$PROXY" serve --config "$TMP/config.json" --port "$port" --workers "$workers" >>"$TMP/proxy.log" 2>&1 &
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
    pkill -9 -P "$PROXY_PID" 2>/dev/null # workers a killed supervisor could not stop
    kill -9 "$PROXY_PID" 2>/dev/null
    wait "$PROXY_PID" 2>/dev/null
    PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$PROXY_PID" | tr '\n' ' ')
}

proc_ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}'; }
proc_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null; }
# ccrelay's processes: the one started and its workers. Sums over them (empty when it is gone).
tree_pids() { kill -0 "$1" 2>/dev/null && echo "$1 $(pgrep -P "$1" | tr '\n' ' ')"; }
tree_ticks() { local p t="" v; for p in $(tree_pids "$1"); do v=$(proc_ticks "$p"); t=$(( ${t:-0} + ${v:-0} )); done; echo $t; }
tree_kb() { local p t="" v; for p in $(tree_pids "$1"); do v=$(proc_kb "$p" "$2"); t=$(( ${t:-0} + ${v:-0} )); done; echo $t; }
TICK=$(getconf CLK_TCK)

# loadgen URL CONNS SCENARIO FORMAT-CHECK LABEL: one run, its JSON line on stdout. LG_SRC is the
# request (--fixture FILE or --body FILE), LG_EXTRA more options (--model for a peer).
LG_SRC="--fixture $FIXTURE"
LG_EXTRA=""
LG_KEY=bench
loadgen() {
    local url=$1 c=$2 scen=$3 check=$4 label=$5 stream=1 ramp=0
    [ "$scen" = nonstream ] && stream=0
    # Paced streams start spread over one answer's length and stay spread (users do not all
    # press enter in the same millisecond); the fast scenarios start at once.
    [ "$scen" = paced ] && ramp=$((CHUNKS * PACE_MS))
    # shellcheck disable=SC2086 # LG_SRC / LG_EXTRA are option lists
    timeout $(( DUR + 90 )) "$LOADGEN" --url "$url" $LG_SRC $LG_EXTRA --stream $stream \
        -c "$c" -d "$DUR" --ramp $ramp --timeout 30000 $check --label "$label" \
        -H "anthropic-version: 2023-06-01" -H "x-api-key: $LG_KEY" 2>>"$TMP/loadgen.log" ||
        echo "{\"label\":\"$label\",\"failed\":1,\"first_failure\":\"loadgen exited with an error\"}"
}

# measured KIND PID LOADGEN-ARGS...: one loadgen run (its arguments as for loadgen) while PID
# works: KIND proc (that process), tree (it and its workers) or group (its process group). Sets
# RES (the run's JSON, also appended to $RESULTS), RUN_CPU (CPU ms per answer), RUN_PEAK_KB
# (VmHWM after the run, summed over the processes) and RUN_ALIVE (0: PID was gone at the end).
measured() {
    local kind=$1 pid=$2 t0 t1
    shift 2
    t0=$("${kind}_ticks" "$pid")
    RES=$(loadgen "$@")
    t1=$("${kind}_ticks" "$pid")
    RUN_PEAK_KB=$("${kind}_kb" "$pid" VmHWM)
    RUN_ALIVE=1
    [ -n "$t1" ] || RUN_ALIVE=0
    echo "$RES" >>"$RESULTS"
    RUN_CPU=$(jq -r --arg d "$(( ${t1:-0} - ${t0:-0} ))" --arg hz "$TICK" \
        'if (.ok // 0) > 0 then ($d|tonumber) * 1000 / ($hz|tonumber) / .ok else 0 end' <<<"$RES")
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
declare -A CCRELAY_PACED # conns -> "rps TTFT-p99 CPU-ms/req mock-rps mock-TTFT-p99" (anthropic)
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
GOALS=""
PEAK1000_KB=""
# goal CONDITION TEXT: one goal line, "met" when the awk CONDITION holds.
goal() {
    if awk "BEGIN { exit !($1) }" 2>/dev/null; then echo "- met: $2"; else echo "- NOT MET: $2"; fi
}
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
                idle=$(tree_kb "$PROXY_PID" VmRSS)
                # start-up: the best of this run's starts (the poll and a busy machine add noise)
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
                measured tree "$PROXY_PID" "http://127.0.0.1:$PROXY_PORT/v1/messages" "$c" "$scen" \
                    "$check" "ccrelay/$route/$scen/$c"
                res=$RES cpu=$RUN_CPU peak=$RUN_PEAK_KB
                pcheck=$(row_check "$res")
                [ $RUN_ALIVE = 1 ] || pcheck="FAIL ccrelay died (log: $(tail -1 "$TMP/proxy.log"))"
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
            ratio=$(awk -v a="$brps" -v b="$prps" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')
            [ "$scen" = paced ] && [ "$route" = anthropic ] &&
                CCRELAY_PACED[$c]="$prps $pt99 $cpu $brps $bt99"
            if [ "$pcheck" != "no proxy" ] && [ "$pok" != 0 ] && [ "$scen" = paced ] &&
                [ "$c" -ge 256 ]; then
                BUDGET="$BUDGET- TTFT p99 added, $route paced, $c streams: $(added "$bt99" "$pt99") ms (budget < 5 ms): $(awk -v a="$bt99" -v b="$pt99" 'BEGIN{print (b - a < 5 ? "ok" : "OVER")}')
"
                GOALS="$GOALS$(goal "$(added "$bt99" "$pt99" | tr -d +) < 5 && $(jq -r '.unserved_connections // 1' <<<"$res") == 0 && $ratio >= 0.95" \
                    "$route paced, $c streams: every connection served ($(jq -r '.unserved_connections // "?"' <<<"$res") unserved), rps $ratio of direct (goal >= 0.95), first-delta p99 added $(added "$bt99" "$pt99") ms (goal < 5)")
"
            fi
            case "$bcheck $pcheck" in *FAIL*) FAILS=$((FAILS + 1)) ;; esac
            if [ "$pcheck" = "no proxy" ] || [ "$pok" = 0 ]; then
                ROWS="$ROWS| $route | $scen | $c | $(fmt2 "$brps") | $( [ "$pok" = 0 ] && [ "$pcheck" != "no proxy" ] && echo 0 || echo -) | - | $(fmt2 "$bp50") | - | $(fmt2 "$bp99") | - | $(fmt2 "$bt99") | - | - | - | $checks |
"
            else
                ROWS="$ROWS| $route | $scen | $c | $(fmt2 "$brps") | $(fmt2 "$prps") | $ratio | $(fmt2 "$bp50") | $(added "$bp50" "$pp50") | $(fmt2 "$bp99") | $(added "$bp99" "$pp99") | $(fmt2 "$bt99") | $(added "$bt99" "$pt99") | $(awk -v x="$cpu" 'BEGIN{printf "%.3f", x}') | $(awk -v a="$idle" -v b="${peak:-0}" 'BEGIN{printf "%.1f / %.1f", a/1024, b/1024}') | $checks |
"
            fi
        done
        [ $proxy_up = 1 ] && stop_proxy
    done
done

# ---- one process (--workers 1): the memory goals are per process ----
ONE_CONNS=1000
ONE_LINE=""
if [ $HAVE_PROXY = 1 ] && start_proxy pacedant 1; then
    sleep 0.2
    IDLE_KB=$(proc_kb "$PROXY_PID" VmRSS)
    echo "== one process: anthropic paced, $ONE_CONNS connections" >&2
    measured proc "$PROXY_PID" "http://127.0.0.1:$PROXY_PORT/v1/messages" $ONE_CONNS paced \
        "--expect-deltas $CHUNKS" "ccrelay-1/anthropic/paced/$ONE_CONNS"
    res=$RES PEAK1000_KB=$RUN_PEAK_KB
    pcheck=$(row_check "$res")
    [ $RUN_ALIVE = 1 ] || pcheck="FAIL ccrelay died (log: $(tail -1 "$TMP/proxy.log"))"
    case "$pcheck" in *FAIL*) FAILS=$((FAILS + 1)) ;; esac
    ONE_LINE="one process (\`--workers 1\`), $ONE_CONNS paced streams: $(jq -r '.rps' <<<"$res") rps, first-delta p99 $(jq -r '.first_delta_ms.p99' <<<"$res") ms, $(awk -v x="$RUN_CPU" 'BEGIN{printf "%.3f", x}') CPU ms/req, resident memory $(awk -v a="$IDLE_KB" -v b="$PEAK1000_KB" 'BEGIN{printf "%.1f MB idle, %.1f MB peak", a/1024, b/1024}'); checks: $pcheck"
    BUDGET="$BUDGET- RSS peak, one process, $ONE_CONNS paced streams: $(awk -v b="${PEAK1000_KB:-0}" 'BEGIN{printf "%.1f MB (budget < 64 MB): %s", b/1024, (b < 65536 ? "ok" : "OVER")}')
"
    stop_proxy
fi

# ---- the floor: a forwarder that moves bytes and nothing else (tests/bench/floor_proxy.c) ----
# What any user-space proxy pays at least on this machine for the paced rows: whatever of the
# paced goals the floor itself misses is the machine's limit, not ccrelay's.
FLOOR_ROWS=""
FLOOR_NOTES=""
if [ -x "$FLOOR" ] && [[ " $ROUTES " == *" anthropic "* ]]; then
    "$FLOOR" --port 0 --upstream-port "$PACED_PORT" --quiet --lifetime 1800 >"$TMP/floor.port" 2>"$TMP/floor.log" &
    FLOOR_PID=$!
    PIDS="$PIDS $FLOOR_PID"
    for i in $(seq 100); do grep -q '^port ' "$TMP/floor.port" 2>/dev/null && break; sleep 0.05; done
    FLOOR_PORT=$(awk '/^port /{print $2}' "$TMP/floor.port")
    for c in $CONNS; do
        [ "$c" -ge 256 ] && [ -n "$FLOOR_PORT" ] || continue
        echo "== floor: paced, $c connections" >&2
        baseline paced "$c"
        base=$BASE_OUT
        measured proc "$FLOOR_PID" "http://127.0.0.1:$FLOOR_PORT/v1/messages" "$c" paced \
            "--expect-deltas $CHUNKS" "floor/paced/$c"
        res=$RES fcpu=$RUN_CPU
        read -r brps bt99 < <(jq -r '[.rps // 0, .first_delta_ms.p99 // 0] | @tsv' <<<"$base")
        read -r frps ft99 < <(jq -r '[.rps // 0, .first_delta_ms.p99 // 0] | @tsv' <<<"$res")
        read -r prps pt99 pcpu pbrps pbt99 <<<"${CCRELAY_PACED[$c]:-0 0 0 0 0}"
        fratio=$(awk -v a="$brps" -v b="$frps" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')
        pratio=$(awk -v a="$pbrps" -v b="$prps" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')
        FLOOR_ROWS="$FLOOR_ROWS| paced | $c | $(fmt2 "$brps") / $(fmt2 "$frps") / $(fmt2 "$prps") | $fratio / $pratio | $(fmt2 "$bt99") / $(fmt2 "$pbt99") | $(added "$bt99" "$ft99") / $(added "$pbt99" "$pt99") | $(awk -v a="$fcpu" -v b="$pcpu" 'BEGIN{printf "%.3f / %.3f", a, b}') | floor $(row_check "$res") |
"
        FLOOR_NOTES="$FLOOR_NOTES  - the floor (a forwarder that only moves bytes) at $c paced streams: rps $fratio of direct, first-delta p99 added $(added "$bt99" "$ft99") ms
"
    done
    kill "$FLOOR_PID" 2>/dev/null
    wait "$FLOOR_PID" 2>/dev/null
fi

# ---- the 256-byte body (the gateways' published figures are for bodies under 1 KB) ----
SMALL_BODY=tests/bench/body-256.json
SMALL_ROWS=""
if [ $HAVE_PROXY = 1 ] && start_proxy mockant; then
    LG_SRC="--body $SMALL_BODY"
    for scen in nonstream stream; do
        echo "== 256-byte body, $scen, 1 connection" >&2
        chk=""
        [ "$scen" = stream ] && chk="--expect-deltas $CHUNKS"
        base=$(loadgen "http://127.0.0.1:$FAST_PORT/v1/messages" 1 "$scen" "$chk" "mock/small/$scen/1")
        res=$(loadgen "http://127.0.0.1:$PROXY_PORT/v1/messages" 1 "$scen" "$chk" "ccrelay/small/$scen/1")
        printf '%s\n%s\n' "$base" "$res" >>"$RESULTS"
        read -r brps bp50 bp99 < <(jq -r '[.rps // 0, .latency_ms.p50 // 0, .latency_ms.p99 // 0] | @tsv' <<<"$base")
        read -r prps pp50 pp99 < <(jq -r '[.rps // 0, .latency_ms.p50 // 0, .latency_ms.p99 // 0] | @tsv' <<<"$res")
        bcheck=$(row_check "$base")
        pcheck=$(row_check "$res")
        case "$bcheck $pcheck" in *FAIL*) FAILS=$((FAILS + 1)) ;; esac
        SMALL_ROWS="$SMALL_ROWS| $scen | 1 | $(fmt2 "$brps") | $(fmt2 "$prps") | $(fmt2 "$bp50") | $(added "$bp50" "$pp50") | $(fmt2 "$bp99") | $(added "$bp99" "$pp99") | mock $bcheck; proxy $pcheck |
"
        GOALS="$GOALS$(goal "$pp99 - $bp99 < 0.2" "256-byte body, $scen, 1 connection: p99 added $(added "$bp99" "$pp99") ms (goal < 0.2 ms)")
"
    done
    LG_SRC="--fixture $FIXTURE"
    stop_proxy
fi

# ---- start-up: the command to its first answered request ----
# first_answer PORT KEY PID [RETRY]: polls PORT until a POST of the 256-byte body gets a status
# line back (with RETRY: a 200 status line, for a server that listens before it routes); in
# bash (/dev/tcp) so that the poll forks nothing. Prints the status line.
first_answer() {
    local port=$1 i line len
    len=$(wc -c <"$SMALL_BODY")
    for i in $(seq 20000); do
        if exec 3<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
            printf 'POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nanthropic-version: 2023-06-01\r\nx-api-key: %s\r\nContent-Length: %s\r\nConnection: close\r\n\r\n' \
                "${2:-bench}" "$len" >&3
            cat "$SMALL_BODY" >&3
            IFS= read -r -t 10 line <&3
            exec 3<&-
            if [ -z "${4:-}" ] || [[ $line == "HTTP/1.1 200"* ]] || [ "$i" -ge 19999 ]; then
                echo "${line%$'\r'}"
                return 0
            fi
        fi
        [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null && return 1
        # a server whose listener died at start-up (its parent lives on) says so in its log
        [ -n "${FIRST_GIVE_UP_LOG:-}" ] && grep -q "$FIRST_GIVE_UP_RE" "$FIRST_GIVE_UP_LOG" 2>/dev/null &&
            return 1
        sleep 0.001
    done
    return 1
}
elapsed_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }
FIRST_MS=""
FIRST_ALL=""
if [ $HAVE_PROXY = 1 ]; then
    nfirst=0
    for try in $(seq 8); do # 5 starts; a port taken meanwhile (by anyone) costs a retry
        [ $nfirst -ge 5 ] && break
        port=$(( 20000 + RANDOM % 30000 ))
        port_free "$port" || continue
        t0=$EPOCHREALTIME
        "$PROXY" serve --config "$TMP/config.json" --port "$port" --workers "$WORKERS" >>"$TMP/proxy.log" 2>&1 &
        PROXY_PID=$!
        PIDS="$PIDS $PROXY_PID"
        status=$(first_answer "$port" bench "$PROXY_PID")
        t1=$EPOCHREALTIME
        stop_proxy
        case "$status" in
        "HTTP/1.1 200"*)
            ms=$(elapsed_ms "$t0" "$t1")
            FIRST_ALL="$FIRST_ALL $ms"
            nfirst=$((nfirst + 1))
            [ -z "$FIRST_MS" ] || awk -v a="$ms" -v b="$FIRST_MS" 'BEGIN{exit !(a < b)}' && FIRST_MS=$ms ;;
        *) grep -q 'already in use' <(tail -1 "$TMP/proxy.log") ||
            FIRST_ALL="$FIRST_ALL failed(${status:-no answer}: $(tail -1 "$TMP/proxy.log"))" ;;
        esac
    done
    if [ -n "$FIRST_MS" ]; then
        GOALS="$GOALS$(goal "$FIRST_MS < 50" "start-up, command to the first answered request: $FIRST_MS ms, best of 5 (goal < 50 ms; all:$FIRST_ALL)")
"
    else
        GOALS="$GOALS- NOT MET: start-up: no start answered a request ($FIRST_ALL)
"
    fi
fi

# ---- Claude Code Router, side by side (BENCH_PEERS=0 skips it) ----
PEERS=${BENCH_PEERS:-1}
PEER_DIR=tests/bench/peers
CCR_CLI=$PEER_DIR/node_modules/@musistudio/claude-code-router/dist/main/cli.js
PEER_ROWS=""
PEER_NOTE=""
CCR_VERSION=""
# Process-group totals of Claude Code Router (its web server, its gateway child, helpers).
group_pids() { ps -o pid= -g "$1" 2>/dev/null | tr -s ' \n' ' '; }
group_kb() { local p t=0 v; for p in $(group_pids "$1"); do v=$(proc_kb "$p" "$2"); t=$((t + ${v:-0})); done; echo $t; }
group_ticks() { local p t=0 v; for p in $(group_pids "$1"); do v=$(proc_ticks "$p"); t=$((t + ${v:-0})); done; echo $t; }
CCR_PGID=""
stop_ccr() {
    [ -n "$CCR_PGID" ] || return 0
    kill -TERM -- "-$CCR_PGID" 2>/dev/null
    local i
    for i in $(seq 60); do [ -n "$(group_pids "$CCR_PGID")" ] || break; sleep 0.05; done
    kill -KILL -- "-$CCR_PGID" 2>/dev/null
    wait "$CCR_PGID" 2>/dev/null
    PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$CCR_PGID" | tr '\n' ' ')
    CCR_PGID=""
}
if [ "$PEERS" = 1 ]; then
    if ! command -v node >/dev/null || ! command -v python3 >/dev/null; then
        PEER_NOTE="Claude Code Router skipped: node and python3 (to read its local key) are needed"
    elif [ ! -f "$CCR_CLI" ] &&
        ! (cd "$PEER_DIR" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) >"$TMP/npm.log" 2>&1; then
        PEER_NOTE="Claude Code Router skipped: npm ci in $PEER_DIR failed ($(tail -1 "$TMP/npm.log"))"
    fi
fi
# start_ccr: Claude Code Router on fresh loopback ports, in a fresh HOME; sets CCR_PGID, CCR_PORT,
# CCR_KEY, CCR_FIRST_MS, or PEER_NOTE when it does not answer.
start_ccr() {
    PEER_NOTE=""
    CCR_HOME=$TMP/ccr-home-$1
    mkdir -p "$CCR_HOME/.claude-code-router"
    # The gateway's port is not next to the web UI's: in a run whose gateway failed to start,
    # Claude Code Router's web UI was listening on the UI port + 1, where the gateway was to be.
    while :; do
        CCR_UI_PORT=$(( 20000 + RANDOM % 30000 )); CCR_PORT=$((CCR_UI_PORT + 10))
        port_free "$CCR_UI_PORT" && port_free "$((CCR_UI_PORT + 1))" && port_free "$CCR_PORT" && break
    done
    # Its 2.x config.json, imported at first start: one Anthropic-format provider on the mock,
    # logging, request logs and agent analysis off; the web UI and the gateway on loopback ports.
    cat >"$CCR_HOME/.claude-code-router/config.json" <<EOC
{"HOST": "127.0.0.1", "PORT": $CCR_UI_PORT, "LOG": false, "LOG_LEVEL": "fatal",
 "Providers": [{"name": "mock", "api_base_url": "http://127.0.0.1:$FAST_PORT/v1/messages",
                "api_key": "k", "models": ["m1"], "transformer": {"use": ["Anthropic"]}},
               {"name": "paced", "api_base_url": "http://127.0.0.1:$PACED_PORT/v1/messages",
                "api_key": "k", "models": ["m1"], "transformer": {"use": ["Anthropic"]}}],
 "Router": {"default": "mock,m1"},
 "gateway": {"enabled": true, "host": "127.0.0.1", "port": $CCR_PORT},
 "observability": {"requestLogs": false, "agentAnalysis": false, "requestLogBodyCapture": "none",
                   "requestLogSuccessSampleRate": 0}}
EOC
    t0=$EPOCHREALTIME
    # its own process group, so that every process it starts is stopped with it
    HOME=$CCR_HOME XDG_CONFIG_HOME=$CCR_HOME/.config setsid node "$CCR_CLI" serve --no-open \
        --host 127.0.0.1 --port "$CCR_UI_PORT" >"$TMP/ccr.log" 2>&1 &
    CCR_PGID=$!
    PIDS="$PIDS $CCR_PGID"
    CCR_KEY=""
    for i in $(seq 600); do
        kill -0 "$CCR_PGID" 2>/dev/null || break
        [ -z "$CCR_KEY" ] && [ -f "$CCR_HOME/.claude-code-router/config.sqlite" ] &&
            CCR_KEY=$(python3 -c 'import sqlite3, sys
r = sqlite3.connect(sys.argv[1], timeout=1).execute("select * from api_keys").fetchall()
print(next((v for row in r for v in row if isinstance(v, str) and v.startswith("sk-")), ""))' "$CCR_HOME/.claude-code-router/config.sqlite" 2>/dev/null)
        [ -n "$CCR_KEY" ] && ! port_free "$CCR_PORT" && break
        sleep 0.05
    done
    status=""
    [ -n "$CCR_KEY" ] && status=$(sed 's/"claude-sonnet-4-5"/"mock,m1"/' "$SMALL_BODY" >"$TMP/small-ccr.json" &&
        SMALL_BODY=$TMP/small-ccr.json FIRST_GIVE_UP_LOG=$TMP/ccr.log \
        FIRST_GIVE_UP_RE="Failed to start gateway" first_answer "$CCR_PORT" "$CCR_KEY" "$CCR_PGID" retry)
    t1=$EPOCHREALTIME
    case "$status" in
    "HTTP/1.1 200"*) CCR_FIRST_MS=$(elapsed_ms "$t0" "$t1") ;;
    *) PEER_NOTE="Claude Code Router $CCR_VERSION did not answer (status: ${status:-none}; log: $(tail -2 "$TMP/ccr.log" | tr '\n' ' '))"
       stop_ccr ;;
    esac
}
if [ "$PEERS" = 1 ] && [ -z "$PEER_NOTE" ]; then
    CCR_VERSION=$(jq -r .version "$PEER_DIR/node_modules/@musistudio/claude-code-router/package.json")
    CCR_ENGINE=$(jq -r '.engines.node // "any"' "$PEER_DIR/node_modules/@musistudio/claude-code-router/package.json")
    # Its gateway child has been seen to exit at start-up once in a few runs: a second try.
    start_ccr 1
    if [ -n "$PEER_NOTE" ]; then
        echo "bench: $PEER_NOTE; trying once more" >&2
        start_ccr 2
    fi
fi
if [ "$PEERS" = 1 ] && [ -z "$PEER_NOTE" ]; then
    sleep 1
    CCR_IDLE_KB=$(group_kb "$CCR_PGID" VmRSS)
    PEER_SCENS="nonstream/16 stream/16"
    [ "$QUICK" = 1 ] || PEER_SCENS="$PEER_SCENS paced/256"
    for sc in $PEER_SCENS; do
        scen=${sc%/*} c=${sc#*/}
        echo "== Claude Code Router side by side: $scen, $c connections" >&2
        chk=""
        [ "$scen" = nonstream ] || chk="--expect-deltas $CHUNKS"
        port=$FAST_PORT; provider=mockant; ccr_model="mock,m1"
        [ "$scen" = paced ] && port=$PACED_PORT provider=pacedant ccr_model="paced,m1"
        base=$(loadgen "http://127.0.0.1:$port/v1/messages" "$c" "$scen" "$chk" "mock/peers/$scen/$c")
        echo "$base" >>"$RESULTS"
        # ccrelay, fresh, right before Claude Code Router under the same load
        res="{}"; cpu=0; peak=0
        if [ $HAVE_PROXY = 1 ] && start_proxy $provider; then
            sleep 0.2
            measured tree "$PROXY_PID" "http://127.0.0.1:$PROXY_PORT/v1/messages" "$c" "$scen" "$chk" \
                "ccrelay/peers/$scen/$c"
            res=$RES cpu=$RUN_CPU peak=$RUN_PEAK_KB
            stop_proxy
        fi
        LG_EXTRA="--model $ccr_model" LG_KEY=$CCR_KEY
        measured group "$CCR_PGID" "http://127.0.0.1:$CCR_PORT/v1/messages" "$c" "$scen" "$chk" \
            "ccr/$scen/$c"
        LG_EXTRA="" LG_KEY=bench
        cres=$RES ccpu=$RUN_CPU cpeak=$RUN_PEAK_KB
        read -r brps bt99 < <(jq -r '[.rps // 0, (if .stream then .first_delta_ms.p99 else .ttfb_ms.p99 end) // 0] | @tsv' <<<"$base")
        read -r prps pp50 pp99 pt99 < <(jq -r '[.rps // 0, .latency_ms.p50 // 0, .latency_ms.p99 // 0, (if .stream then .first_delta_ms.p99 else .ttfb_ms.p99 end) // 0] | @tsv' <<<"$res")
        read -r crps cp50 cp99 ct99 < <(jq -r '[.rps // 0, .latency_ms.p50 // 0, .latency_ms.p99 // 0, (if .stream then .first_delta_ms.p99 else .ttfb_ms.p99 end) // 0] | @tsv' <<<"$cres")
        times=$(awk -v a="$prps" -v b="$crps" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }')
        pcheck=$(row_check "$res")
        ccheck=$(row_check "$cres")
        # A peer that fails its checks is reported, not counted as a failure of the bench.
        case "$pcheck" in *FAIL*) FAILS=$((FAILS + 1)) ;; esac
        PEER_ROWS="$PEER_ROWS| $scen | $c | $(fmt2 "$brps") | $(fmt2 "$prps") | $(fmt2 "$crps") | $times | $(fmt2 "$pp50") / $(fmt2 "$cp50") | $(fmt2 "$pp99") / $(fmt2 "$cp99") | $(fmt2 "$bt99") / $(fmt2 "$pt99") / $(fmt2 "$ct99") | $(awk -v a="$cpu" -v b="$ccpu" 'BEGIN{printf "%.3f / %.2f", a, b}') | $(awk -v a="${peak:-0}" -v b="$cpeak" 'BEGIN{printf "%.1f / %.0f", a/1024, b/1024}') | ccrelay $pcheck; CCR $ccheck |
"
        [ "$c" = 16 ] && GOALS="$GOALS$(goal "$crps > 0 && $prps >= 20 * $crps" "$scen at 16 connections: ccrelay $(fmt2 "$prps") rps = ${times}x Claude Code Router $CCR_VERSION's $(fmt2 "$crps") rps in the same run (goal >= 20x)")
"
    done
    CCR_PEAK_KB=$(group_kb "$CCR_PGID" VmHWM)
    stop_ccr
fi

# ---- goals that come from the other measurements ----
for r in openai gemini; do
    l=$(grep -E "^  $r +worst" <<<"$CPU_BENCH_OUT")
    [ -n "$l" ] && GOALS="$GOALS$(goal "$( [ "${l##*: }" = ok ] && echo 1 || echo 0)" "CPU per translated request ($r): ${l#*worst } (goal: at most 2.5 cJSON parses)")
"
done
l=$(grep -E "^  anthropic +worst" <<<"$CPU_BENCH_OUT")
[ -n "$l" ] && GOALS="$GOALS$(goal "$( [ "${l##*: }" = ok ] && echo 1 || echo 0)" "Anthropic pass-through: ${l#*worst } (goal: at most 1 parse)")
"
[ -n "$IDLE_KB" ] && GOALS="$GOALS$(goal "$IDLE_KB < 10240" "idle resident memory, one process: $(awk -v a="$IDLE_KB" 'BEGIN{printf "%.1f", a/1024}') MB (goal < 10 MB)")
"
[ -n "$PEAK1000_KB" ] && GOALS="$GOALS$(goal "$PEAK1000_KB < 65536" "resident memory, one process, with $ONE_CONNS paced streams open: $(awk -v a="$PEAK1000_KB" 'BEGIN{printf "%.1f", a/1024}') MB peak (goal < 64 MB)")
"
GOALS="$GOALS$(goal "$(grep -q 'docs/benchmarks.md' README.md && echo 1 || echo 0)" "docs/benchmarks.md holds the table of the last full run (this run: $( [ "$QUICK" = 1 ] && echo quick || echo full)) and the README links it")
"

# ---- report ----
CPU_MODEL=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
LIBEVENT=$(pkg-config --modversion libevent 2>/dev/null || echo unknown)
REPORT="# ccrelay benchmarks

Generated by \`tests/bench/run.sh\`; numbers from the last run. What each column means, the
scenarios, and how to read the ratios are described below the tables.

- date: $(date -u '+%Y-%m-%d %H:%M UTC')
- command: \`$CMDLINE\`
- machine: $(nproc) CPUs, $CPU_MODEL, shared with other engineers' builds and tests (load
  average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end); numbers at
  high connection counts also include the load client and the mock competing for the same cores
- ccrelay: \`$VERSION_LABEL\`, libevent $LIBEVENT; \`--workers $WORKERS\`
  (the default: one worker per core) unless a row says otherwise
- request: \`$(basename "$FIXTURE")\` ($(jq -c '.body' "$FIXTURE" | wc -c) bytes), $CHUNKS content deltas per answer,
  paced: ${PACE_MS} ms apart; ${DUR} s per run, closed loop
${PROXY_NOTE:+- **note**: $PROXY_NOTE
}${CCR_VERSION:+- peer: Claude Code Router $CCR_VERSION (\`@musistudio/claude-code-router\`, from \`tests/bench/peers/package-lock.json\`), on Node $(node --version 2>/dev/null) (the package asks for Node ${CCR_ENGINE:-?})
}${PEER_NOTE:+- **peer note**: $PEER_NOTE
}
## Goals (issue 15, \`make bench\` prints these)

${GOALS:-- no goal could be measured in this run
}${FLOOR_NOTES:+- what this machine allows (see The floor, below):
$FLOOR_NOTES}
## Side by side: ccrelay vs. Claude Code Router${CCR_VERSION:+ $CCR_VERSION}

${PEER_ROWS:+| scenario | conns | rps mock | rps ccrelay | rps CCR | ccrelay / CCR | p50 ms ccrelay / CCR | p99 ms ccrelay / CCR | TTFT p99 ms mock / ccrelay / CCR | CPU ms/req ccrelay / CCR | RSS MB peak ccrelay / CCR | checks |
|---|---|---|---|---|---|---|---|---|---|---|---|
$PEER_ROWS
- Claude Code Router: resident memory $(awk -v a="${CCR_IDLE_KB:-0}" -v b="${CCR_PEAK_KB:-0}" 'BEGIN{printf "%.0f MB idle, %.0f MB peak", a/1024, b/1024}') (all its processes: the web server and the gateway
  it starts); start-up, command to the first answered request: ${CCR_FIRST_MS:-?} ms (ccrelay: ${FIRST_MS:-?} ms, best of 5).
- Same mock, same request (\`$(basename "$FIXTURE")\`), same load client, measured one after the other
  (mock alone, a fresh ccrelay, then Claude Code Router, which stays up across its rows). ccrelay
  routes the request's own Claude model with its built-in rules; Claude Code Router 3.1 is sent
  \`\"model\": \"mock,m1\"\` (its 2.x \`Router.default\` is not applied by 3.1's gateway), so it does
  less routing work than ccrelay here. Its config.json sits in a temporary HOME with request logs,
  body capture and agent analysis off; it listens on loopback ports only.
}${PEER_NOTE:+$PEER_NOTE
}$( [ "$PEERS" = 1 ] || echo "skipped (BENCH_PEERS=0)")

## The 256-byte body (anthropic pass-through, 1 connection)

${SMALL_ROWS:+| scenario | conns | rps mock | rps ccrelay | p50 ms mock | p50 added | p99 ms mock | p99 added | checks |
|---|---|---|---|---|---|---|---|---|
$SMALL_ROWS
The gateways' published figures (TensorZero, Bifrost, Helicone, LiteLLM's Rust path) are for
bodies under 1 KB: 0.1-1 ms added at the 99th percentile. Body: \`$SMALL_BODY\`.
}
## DESIGN.md budget
${STARTUP:+- start-up to accepting connections (best start of this run): ${STARTUP} ms (budget < 50 ms): $( [ "$STARTUP" -lt 50 ] && echo ok || echo OVER)
- idle RSS: $(awk -v a="$IDLE_KB" 'BEGIN{printf "%.1f MB (budget < 10 MB): %s", a/1024, (a < 10240 ? "ok" : "OVER")}')
}${BUDGET:-- no proxy measurements in this run
}- CPU per request: see the cpu_bench table below

## One process

${ONE_LINE:-not measured in this run}. The memory goals are per process; each further worker
adds about the idle figure plus its share of the streams.

## The floor: the cheapest possible proxy on this machine

${FLOOR_ROWS:+| scenario | conns | rps mock / floor / ccrelay | rps ratio floor / ccrelay | TTFT p99 ms mock (floor run / ccrelay run) | TTFT p99 added floor / ccrelay | CPU ms/req floor / ccrelay | checks |
|---|---|---|---|---|---|---|---|
$FLOOR_ROWS
\`floor_proxy\` (\`tests/bench/floor_proxy.c\`) relays bytes between the load client and the mock
with one read and one write per arrival and no HTTP parsing at all (one thread, edge-triggered
epoll). Its costs are what any proxy pays at least here: both sides' socket work. ccrelay's
figures are from its row in the Load table (its own mock baseline, measured right before it).
}$( [ -n "$FLOOR_ROWS" ] || echo "not measured in this run (the anthropic route is not in BENCH_ROUTES, or floor_proxy did not build)")
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
- **CPU ms/req**: ccrelay's utime+stime (/proc/PID/stat, summed over the supervisor and its
  workers) over the run divided by the answers; 10 ms clock ticks, so runs with few requests
  are coarse.
- **RSS**: VmRSS after start-up / VmHWM after the run, summed over ccrelay's processes (one
  ccrelay per route and scenario, connection counts in increasing order, so the peak is the
  peak so far).
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

All four are built by \`make bench-tools\` (and \`make $BUILD/bench/cpu_bench\`) into
\`$BUILD/bench/\`; \`--help\` prints the options.

- \`mock_upstream [--port N] [--chunks N] [--delay MS] [--first MS] [--tool]\`: one process
  serving Chat Completions (\`/v1/chat/completions\`), Anthropic (\`/v1/messages\`) and Gemini
  (\`/v1beta/models/M:streamGenerateContent\`, \`:generateContent\`), streaming when the request
  says \`"stream": true\`; \`--tool\` answers with a streamed tool call. Prints \`port N\`.
- \`loadgen --url http://127.0.0.1:PORT/v1/messages --fixture FILE -c CONNS -d SECONDS\`:
  closed loop, keep-alive; one JSON line per run (rps, latency / TTFB / first-delta
  percentiles, failures by kind, unserved connections). Loopback targets only.
- \`floor_proxy --port N --upstream-port M\`: the byte-only forwarder of The floor section.
- \`cpu_bench\`: parse vs. summary vs. each linked translator's build, per fixture; the
  policy's \`policy_route\` per request with the built-in rules and with the custom router
  \`tests/bench/bench-router.lua\` (29 lines), on the ~100 KB fixtures.
- Claude Code Router: \`npm ci --prefix tests/bench/peers\` (run.sh does it when missing);
  \`make bench BENCH_PEERS=0\` skips it.
- Sanitizers: \`make BUILD=build-asan SAN=1 OPT=-O1 bench\` runs everything (ccrelay included)
  under ASan/UBSan and fails on any report.
"
echo
echo "$REPORT"
mkdir -p "$(dirname "$OUT")"
printf '%s' "$REPORT" >"$OUT"
echo "bench: wrote $OUT and $RESULTS"
echo
echo "== goals (issue 15)"
printf '%s' "$GOALS"
if [ "$FAILS" -gt 0 ]; then
    echo "bench: $FAILS row(s) failed their checks" >&2
    exit 1
fi
exit 0
