#!/bin/bash
# The fused shell: start ccrelay in the background (or find one already running elsewhere), wait
# until it answers, point Claude Code at it, mark Claude Code's first-run screens as done, say
# which routes are active, then run an interactive shell (or the command given).
#
# It is the container's entry point (docker/Dockerfile installs it as /usr/local/bin/ccrelay-shell)
# and works the same on a host: `scripts/fused-shell.sh` gives a shell where `claude` just works.
#
#   fused-shell.sh                 interactive shell ($SHELL, else bash)
#   fused-shell.sh CMD [ARGS...]   run CMD with the same environment instead (exec, same pid)
#
# Environment (all optional):
#   CCRELAY_BIN             the ccrelay binary (default: `ccrelay` on PATH, else ../ccrelay)
#   CCRELAY_MODE            router (default): scenario routing, with CCRELAY_CONFIG, else
#                           ~/.ccrelay/config.json, else the embedded default;
#                           litellm: a LiteLLM-style model map, CCRELAY_LITELLM_CONFIG
#   CCRELAY_CONFIG          the config file (router mode); ccrelay reads the same variable
#   CCRELAY_LITELLM_CONFIG  the litellm_config.yaml (litellm mode)
#   CCRELAY_HOST, CCRELAY_PORT   where the proxy listens (127.0.0.1, 3456; port 0 = any free)
#   CCRELAY_URL             use the ccrelay that answers there (e.g. http://router:3000, the
#                           distributed layout) instead of starting one
#   CCRELAY_APIKEY          the proxy's APIKEY; Claude Code sends it as ANTHROPIC_AUTH_TOKEN
#                           (default: what `ccrelay activate` says for the config, else ccrelay)
#   CCRELAY_STATE_DIR       pid file and log of the proxy started here (default ~/.ccrelay)
#   CCRELAY_WAIT_S          how long to wait for the proxy to answer (default 30 s)
#   CCRELAY_CLAUDE_THEME    the theme recorded in ~/.claude.json (default dark)
set -u

say() { printf 'ccrelay-shell: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

mode="${CCRELAY_MODE:-router}"
wait_s="${CCRELAY_WAIT_S:-30}"
case "$wait_s" in '' | *[!0-9]*) die "CCRELAY_WAIT_S must be a number of seconds, not '$wait_s'" ;; esac
[ -n "${HOME:-}" ] || die "HOME is not set; Claude Code keeps its state there"

# GET /health on host:port with bash's /dev/tcp (no curl needed); true when it answers 200.
health() {
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/$1/$2" || exit 1
        printf "GET /health HTTP/1.0\r\nHost: %s\r\n\r\n" "$1" >&3
        IFS= read -r line <&3
        case "$line" in "HTTP/1."?" 200"*) exit 0 ;; *) exit 1 ;; esac' _ "$1" "$2" 2>/dev/null
}

# ---- start ccrelay here, or use the one at CCRELAY_URL ----
token=""
if [ -n "${CCRELAY_URL:-}" ]; then
    rest="${CCRELAY_URL#http://}"
    [ "$rest" != "$CCRELAY_URL" ] || die "CCRELAY_URL must be http://HOST:PORT, not '$CCRELAY_URL'"
    rest="${rest%%/*}"
    host="${rest%:*}"
    port="${rest##*:}"
    [ "$host" != "$rest" ] || port=80
    base_url="http://$host:$port"
    say "waiting for ccrelay at $base_url"
    i=0
    until health "$host" "$port"; do
        i=$((i + 1))
        [ "$i" -le $((wait_s * 5)) ] || die "nothing answers GET /health at $base_url after ${wait_s} s (is the proxy service up? \`make logs\` shows why not)"
        sleep 0.2
    done
    routes="(routes: see the log of the service at $base_url)"
else
    bin="${CCRELAY_BIN:-}"
    if [ -z "$bin" ]; then
        bin="$(command -v ccrelay 2>/dev/null || true)"
        [ -n "$bin" ] || bin="$(cd "$(dirname "$0")/.." && pwd)/ccrelay"
    fi
    [ -x "$bin" ] || die "cannot run ccrelay ('$bin'): build it with \`make\`, or set CCRELAY_BIN"
    host="${CCRELAY_HOST:-127.0.0.1}"
    want_port="${CCRELAY_PORT:-3456}"
    args=(serve --host "$host" --port "$want_port")
    cfg_args=()
    case "$mode" in
    router)
        if [ -n "${CCRELAY_CONFIG:-}" ]; then
            [ -r "$CCRELAY_CONFIG" ] || die "CCRELAY_CONFIG=$CCRELAY_CONFIG: no such readable file"
            cfg_args=(--config "$CCRELAY_CONFIG")
        fi
        ;;
    litellm)
        f="${CCRELAY_LITELLM_CONFIG:-}"
        [ -n "$f" ] || die "litellm mode needs CCRELAY_LITELLM_CONFIG (a litellm_config.yaml)"
        [ -r "$f" ] || die "CCRELAY_LITELLM_CONFIG=$f: no such readable file"
        cfg_args=(--litellm-config "$f")
        [ -z "${CCRELAY_CONFIG:-}" ] || cfg_args=(--config "$CCRELAY_CONFIG" "${cfg_args[@]}")
        ;;
    *) die "CCRELAY_MODE must be router or litellm, not '$mode'" ;;
    esac
    state="${CCRELAY_STATE_DIR:-$HOME/.ccrelay}"
    mkdir -p "$state" || die "cannot create $state (set CCRELAY_STATE_DIR to a writable directory)"
    log="$state/ccrelay.log"
    : >>"$log" || die "cannot write $log"
    offset=$(($(stat -c %s "$log") + 1))
    # setsid: the proxy gets its own session, so Ctrl-C at the shell prompt does not stop it.
    setsid "$bin" "${args[@]}" "${cfg_args[@]}" --pid-file "$state/ccrelay.pid" \
        </dev/null >>"$log" 2>&1 &
    pid=$!
    startup() { tail -c "+$offset" "$log"; }
    port=""
    i=0
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            startup >&2
            die "ccrelay exited at start (the lines above say why; log: $log)"
        fi
        if [ -z "$port" ]; then
            port="$(startup | sed -n 's#.* listening on http://[^ ]*:\([0-9][0-9]*\) .*#\1#p' | head -n 1)"
        fi
        if [ -n "$port" ]; then
            probe="$host"
            case "$probe" in 0.0.0.0 | '' | '*') probe=127.0.0.1 ;; '::') probe=::1 ;; esac
            health "$probe" "$port" && break
        fi
        i=$((i + 1))
        if [ "$i" -gt $((wait_s * 5)) ]; then
            startup >&2
            die "ccrelay (pid $pid) does not answer GET /health after ${wait_s} s; log: $log"
        fi
        sleep 0.2
    done
    base_url="http://$probe:$port"
    [ "$probe" != "::1" ] || base_url="http://[::1]:$port"
    # The token Claude Code must send: the config's APIKEY, as `ccrelay activate` computes it.
    if [ -z "${CCRELAY_APIKEY:-}" ]; then
        token="$("$bin" activate "${cfg_args[@]}" 2>/dev/null |
            sed -n "s/^export ANTHROPIC_AUTH_TOKEN='\(.*\)'\$/\1/p")"
    fi
    routes="$(startup | sed -e 's/^[0-9T:.Z-]* *[a-z]* *//' | grep -v '^ccrelay .* listening on ')"
    say "ccrelay ${mode} mode, pid $pid, answering on $base_url (log: $log)"
fi

# ---- Claude Code's environment ----
export ANTHROPIC_BASE_URL="$base_url"
export ANTHROPIC_AUTH_TOKEN="${CCRELAY_APIKEY:-${token:-ccrelay}}"
export CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1
export CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1
unset ANTHROPIC_API_KEY # an API key beside the token makes Claude Code ask which one to use

# ---- Claude Code's first-run state: onboarding done, a theme, this directory trusted ----
project="$(pwd -P)"
theme="${CCRELAY_CLAUDE_THEME:-dark}"
state_file="$HOME/.claude.json"
if command -v jq >/dev/null 2>&1 && [ -s "$state_file" ]; then
    tmp="$state_file.ccrelay.$$"
    # umask 077: the file may hold credentials; the copy must not be readable by others
    if (umask 077 && jq --arg p "$project" --arg t "$theme" '
            .hasCompletedOnboarding = true
            | .theme = (.theme // $t)
            | .projects[$p] = ((.projects[$p] // {}) + {hasTrustDialogAccepted: true,
                                                         hasCompletedProjectOnboarding: true})
        ' "$state_file" >"$tmp" 2>/dev/null); then
        mv "$tmp" "$state_file"
    else
        rm -f "$tmp"
        say "note: $state_file is not valid JSON; left as it is (Claude Code may ask its first-run questions)"
    fi
elif [ -s "$state_file" ]; then
    say "note: jq is missing, so $state_file was left as it is"
else
    # JSON string escaping of the directory: backslash and double quote (control characters in
    # a directory name are not supported).
    esc="$(printf '%s' "$project" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
    umask 077
    printf '{\n  "hasCompletedOnboarding": true,\n  "theme": "%s",\n  "projects": {\n    "%s": {\n      "hasTrustDialogAccepted": true,\n      "hasCompletedProjectOnboarding": true\n    }\n  }\n}\n' \
        "$theme" "$esc" >"$state_file" || say "note: cannot write $state_file"
fi

# ---- what is active ----
if [ -n "${routes:-}" ]; then
    printf '%s\n' "$routes" | sed 's/^/  /' >&2
fi
say "Claude Code talks to $ANTHROPIC_BASE_URL; project $project is trusted. Type \`claude\`."

if [ "$#" -gt 0 ]; then
    exec "$@"
fi
exec "${SHELL:-/bin/bash}"
