#!/bin/bash
# make test-container: build the fused-shell image (docker/Dockerfile, unchanged) and run it
# non-interactively. What must hold:
#   1. with a mounted config whose provider is a mock upstream on the host's 127.0.0.1 (host
#      network), ccrelay answers GET /health inside the container, `claude --version` runs,
#      and `claude -p` reaches the mock through ccrelay; Claude Code's first-run state is written;
#   2. with the embedded default (no config, own network namespace) the proxy starts on 3456
#      and the entry point prints the active routes;
#   3. with no command, the entry point runs an interactive shell (fed here from stdin);
#   4. with ~/.ccrelay mounted read-only, a host edit of custom-router.lua reloads inside;
#   5. interactive `claude` on a terminal (script(1)) goes straight to work: no first-run screen.
# Skips (exit 0, saying exactly what is missing) when no container engine can run here.
# Without a registry to pull debian:bookworm-slim from, it builds that base image locally with
# mmdebstrap or debootstrap (from Debian's packages) and tags it under the Dockerfile's name.
#
# Environment: CONTAINER (docker or podman; tried first), CLAUDE_CODE_VERSION, CA_BUNDLE,
# TEST_IMAGE (default ccrelay-test:latest), BUILD_TIMEOUT_S (default 1800).
set -euo pipefail
cd "$(dirname "$0")/../.."

CLAUDE_CODE_VERSION="${CLAUDE_CODE_VERSION:-2.1.331}"
TEST_IMAGE="${TEST_IMAGE:-ccrelay-test:latest}"
BASE="docker.io/library/debian:bookworm-slim" # FROM debian:bookworm-slim in docker/Dockerfile
BUILD_TIMEOUT_S="${BUILD_TIMEOUT_S:-1800}"

say() { printf 'test-container: %s\n' "$*"; }
skip() { say "SKIPPED: $*"; exit 0; }
fail() { say "FAIL: $*"; exit 1; }

# ---- an engine that runs ----
engine=""
for e in ${CONTAINER:-} podman docker; do
    command -v "$e" >/dev/null 2>&1 || continue
    if timeout 30 "$e" info >/dev/null 2>&1; then engine="$e"; break; fi
done
if [ -z "$engine" ]; then
    have=""
    for e in podman docker; do command -v "$e" >/dev/null 2>&1 && have="$have $e"; done
    if [ -n "$have" ]; then
        skip "no container engine answers here (tried:${have}; \`$(echo $have | cut -d' ' -f1) info\` fails). Start the Docker daemon, or install Podman (apt-get install podman runc uidmap slirp4netns fuse-overlayfs)."
    fi
    skip "no container engine here (neither podman nor docker is installed). Install one (apt-get install podman runc) to run this test."
fi
command -v node >/dev/null 2>&1 || skip "node is missing (the mock upstream runs on node); run scripts/setup.sh"
say "engine: $engine"

# Podman on this kind of host: runc, and explicit ulimits no larger than the host's hard limits.
eng_flags=()
if [ "$(basename "$engine")" = podman ]; then
    nofile=$(ulimit -Hn); { [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ]; } && nofile=65536
    nproc=$(ulimit -Hu); { [ "$nproc" = unlimited ] || [ "$nproc" -gt 4096 ]; } && nproc=4096
    eng_flags+=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
    command -v runc >/dev/null 2>&1 && eng_flags+=(--runtime runc)
fi

work="$(mktemp -d /tmp/ccrelay-container-test.XXXXXX)"
mock_pid=""
cleanup() {
    [ -z "$mock_pid" ] || kill "$mock_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# ---- the base image: present, pulled, or built from Debian's packages ----
if "$engine" image inspect "$BASE" >/dev/null 2>&1; then
    say "base image $BASE: present"
elif timeout 120 "$engine" pull -q "$BASE" >/dev/null 2>&1; then
    say "base image $BASE: pulled"
else
    say "base image $BASE: cannot be pulled; building it from Debian's packages"
    [ "$(id -u)" -eq 0 ] || skip "building a base image needs root (mmdebstrap/debootstrap); run as root, or make $BASE available"
    sources=()
    if grep -qs '^ID=debian' /etc/os-release; then
        for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
            if [ -s "$f" ] && grep -qs '^[^#]' "$f"; then sources=("$f"); break; fi
        done
    fi
    t0=$(date +%s)
    if command -v mmdebstrap >/dev/null 2>&1; then
        timeout 900 mmdebstrap --quiet --variant=minbase --mode=root bookworm "$work/base.tar" "${sources[@]}" ||
            fail "mmdebstrap could not build a bookworm base (see above)"
    elif command -v debootstrap >/dev/null 2>&1; then
        timeout 900 debootstrap --variant=minbase bookworm "$work/rootfs" >/dev/null ||
            fail "debootstrap could not build a bookworm base"
        [ -z "${sources[0]:-}" ] || cp "${sources[0]}" "$work/rootfs/etc/apt/"
        tar -C "$work/rootfs" -cf "$work/base.tar" .
        rm -rf "$work/rootfs"
    else
        skip "$BASE cannot be pulled and neither mmdebstrap nor debootstrap is installed (apt-get install mmdebstrap)"
    fi
    "$engine" import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' "$work/base.tar" "$BASE" >"$work/import.log" 2>&1 ||
        { cat "$work/import.log"; fail "cannot import the base image"; }
    rm -f "$work/base.tar"
    say "base image $BASE: built in $(($(date +%s) - t0)) s"
fi

# ---- build the image from docker/Dockerfile, as `make image` does ----
build=("$engine" build -f docker/Dockerfile -t "$TEST_IMAGE" --build-arg "CLAUDE_CODE_VERSION=$CLAUDE_CODE_VERSION")
[ -z "${CA_BUNDLE:-}" ] || [ ! -s "$CA_BUNDLE" ] || build+=(--secret "id=ca_bundle,src=$CA_BUNDLE")
build+=("${eng_flags[@]}" .)
t0=$(date +%s)
if ! DOCKER_BUILDKIT=1 timeout "$BUILD_TIMEOUT_S" "${build[@]}" >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log"
    fail "the image did not build (last lines above)"
fi
say "image $TEST_IMAGE built in $(($(date +%s) - t0)) s"

checks=0
expect() { # expect WHAT PATTERN FILE
    if grep -qE -- "$2" "$3"; then checks=$((checks + 1)); else
        say "--- $3:"; cat "$3"; fail "$1 (no match for /$2/)"
    fi
}

# ---- 1. a mounted config, a mock upstream on the host's loopback, claude -p ----
node tests/container/mock-upstream.mjs >"$work/mock.port" 2>"$work/mock.log" &
mock_pid=$!
for _ in $(seq 50); do [ -s "$work/mock.port" ] && break; sleep 0.1; done
mock_port="$(head -n 1 "$work/mock.port")"
[ -n "$mock_port" ] || fail "the mock upstream did not start: $(cat "$work/mock.log")"
mkdir -p "$work/config" "$work/project"
cat >"$work/config/config.json" <<EOF
{
  "LOG_LEVEL": "info",
  "Providers": [{ "name": "mock", "api_base_url": "http://127.0.0.1:$mock_port/v1/messages",
                  "api_key": "sk-mock-upstream", "models": ["mock-model"] }],
  "Router": { "default": "mock,mock-model", "background": "mock,mock-model" }
}
EOF
chmod 755 "$work" "$work/config" "$work/project"
chmod 644 "$work/config/config.json"
inside='set -e
echo "base-url=$ANTHROPIC_BASE_URL token=$ANTHROPIC_AUTH_TOKEN traffic=$CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"
port="${ANTHROPIC_BASE_URL##*:}"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf "GET /health HTTP/1.0\r\n\r\n" >&3
echo "health: $(head -n 1 <&3)"
exec 3<&-
echo "version: $(claude --version)"
echo "answer: $(timeout 90 claude -p "Say hello" </dev/null)"
echo "onboarding: $(jq -c "{o: .hasCompletedOnboarding, t: .projects[\"/workspace\"].hasTrustDialogAccepted}" ~/.claude.json)"
echo "user: $(id -un) cwd: $(pwd)"'
t0=$(date +%s)
timeout 300 "$engine" run --rm -i --network host "${eng_flags[@]}" \
    -v "$work/config:/etc/ccrelay/config:ro" -e CCRELAY_CONFIG=/etc/ccrelay/config/config.json \
    -v "$work/project:/workspace" -e CCRELAY_PORT=0 \
    "$TEST_IMAGE" bash -c "$inside" >"$work/run1.out" 2>&1 </dev/null ||
    { cat "$work/run1.out"; fail "the container run with a mock upstream failed"; }
say "run 1 (mock upstream, claude -p) took $(($(date +%s) - t0)) s"
expect "the proxy answers GET /health inside the container" '^health: HTTP/1\.[01] 200' "$work/run1.out"
expect "Claude Code's variables point at the proxy" '^base-url=http://127\.0\.0\.1:[0-9]+ token=ccrelay traffic=1$' "$work/run1.out"
expect "claude --version runs" "^version: ${CLAUDE_CODE_VERSION//./\\.} " "$work/run1.out"
expect "claude -p gets the mock's answer through ccrelay" '^answer: .*through ccrelay in the container' "$work/run1.out"
expect "first-run state written" '^onboarding: \{"o":true,"t":true\}' "$work/run1.out"
expect "runs as the non-root user in /workspace" '^user: claude cwd: /workspace$' "$work/run1.out"
expect "routes printed at start" 'route default +-> mock,mock-model' "$work/run1.out"
expect "the mock saw claude's request, with the provider's key, for the routed model" \
    '"method":"POST","url":"/v1/messages[^"]*","model":"mock-model".*"auth":"sk-mock-upstream"' "$work/mock.log"

# ---- 2. the embedded default, in the container's own network namespace ----
timeout 120 "$engine" run --rm -i "${eng_flags[@]}" "$TEST_IMAGE" \
    bash -c 'echo "base-url=$ANTHROPIC_BASE_URL"; ccrelay version' >"$work/run2.out" 2>&1 </dev/null ||
    { cat "$work/run2.out"; fail "the container run with the embedded default failed"; }
expect "embedded default listens on 3456" '^base-url=http://127\.0\.0\.1:3456$' "$work/run2.out"
expect "embedded default routes printed" 'route default +-> openrouter,x-ai/grok-4\.1-fast' "$work/run2.out"
expect "missing keys are named" 'OPENROUTER_API_KEY is not set' "$work/run2.out"

# ---- 3. no command: the interactive shell, fed from stdin ----
printf 'echo "shell: $0 $ANTHROPIC_BASE_URL"\nexit 0\n' |
    timeout 120 "$engine" run --rm -i "${eng_flags[@]}" "$TEST_IMAGE" >"$work/run3.out" 2>&1 ||
    { cat "$work/run3.out"; fail "the default shell did not run"; }
expect "the entry point execs bash with the variables" '^shell: /bin/bash http://127\.0\.0\.1:3456$' "$work/run3.out"

# ---- 4. ~/.ccrelay mounted read-only from the host: an edit of custom-router.lua (saved by
#         renaming, as editors do) reloads inside the running container ----
mkdir -p "$work/home"
sed -e 's/"models": \["mock-model"\]/"models": ["mock-model", "mock-other"]/' \
    "$work/config/config.json" >"$work/home/config.json"
printf 'function route(req, config) return "mock,mock-model" end\n' >"$work/home/custom-router.lua"
chmod 755 "$work/home" && chmod 644 "$work/home"/*
cname="ccrelay-test-reload-$$"
"$engine" run -d --rm --name "$cname" --network host "${eng_flags[@]}" \
    -v "$work/home:/home/claude/.ccrelay:ro" -e CCRELAY_PORT=0 \
    "$TEST_IMAGE" sleep 120 >/dev/null || fail "cannot start the container for the reload check"
stop_reload() { "$engine" rm -f "$cname" >/dev/null 2>&1 || true; }
trap 'stop_reload; cleanup' EXIT
port=""
for _ in $(seq 150); do
    port="$("$engine" logs "$cname" 2>&1 | sed -n 's#.*answering on http://127\.0\.0\.1:\([0-9]*\) .*#\1#p' | head -n 1)"
    [ -z "$port" ] || break
    sleep 0.2
done
[ -n "$port" ] || { "$engine" logs "$cname"; fail "the proxy in the reload container did not come up"; }
ask() { # one request through the container's proxy, from the host; prints the HTTP status
    node -e '
      const http = require("node:http");
      const body = JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 50, stream: true,
        messages: [{ role: "user", content: "hi" }] });
      const req = http.request({ host: "127.0.0.1", port: Number(process.argv[1]), method: "POST",
        path: "/v1/messages", headers: { "content-type": "application/json",
        "content-length": Buffer.byteLength(body) } }, (res) => {
          res.resume(); res.on("end", () => console.log(res.statusCode)); });
      req.setTimeout(20000, () => req.destroy(new Error("timeout")));
      req.on("error", (e) => { console.log(e.message); process.exitCode = 1; });
      req.end(body);' "$port"
}
seen=$(wc -l <"$work/mock.log")
[ "$(ask)" = 200 ] || fail "a request through the reload container failed"
tail -n "+$((seen + 1))" "$work/mock.log" >"$work/mock4a.log"
expect "the mounted custom router decides" '"model":"mock-model"' "$work/mock4a.log"
printf 'function route(req, config) return "mock,mock-other" end\n' >"$work/home/custom-router.lua.new"
chmod 644 "$work/home/custom-router.lua.new"
mv "$work/home/custom-router.lua.new" "$work/home/custom-router.lua"
reloaded=""
for _ in $(seq 50); do
    if "$engine" exec "$cname" grep -q 'reloaded' /home/claude/.local/state/ccrelay/ccrelay.log 2>/dev/null; then
        reloaded=1; break
    fi
    sleep 0.2
done
[ -n "$reloaded" ] || { "$engine" exec "$cname" cat /home/claude/.local/state/ccrelay/ccrelay.log; fail "no reload after the host edit"; }
seen=$(wc -l <"$work/mock.log")
[ "$(ask)" = 200 ] || fail "a request after the reload failed"
tail -n "+$((seen + 1))" "$work/mock.log" >"$work/mock4b.log"
expect "the edited custom router decides, without a restart" '"model":"mock-other"' "$work/mock4b.log"
stop_reload

# ---- 5. interactive `claude` on a terminal: no theme or trust screen stops it; the prompt
#         given on its command line reaches the mock upstream ----
if command -v script >/dev/null 2>&1; then
    cname="ccrelay-test-tui-$$"
    trap '"$engine" rm -f "$cname" >/dev/null 2>&1 || true; cleanup' EXIT
    seen=$(wc -l <"$work/mock.log")
    run5="$engine run --rm -it --name $cname --network host ${eng_flags[*]}"
    run5="$run5 -v $work/config:/etc/ccrelay/config:ro -e CCRELAY_CONFIG=/etc/ccrelay/config/config.json"
    run5="$run5 -v $work/project:/workspace -e CCRELAY_PORT=0 $TEST_IMAGE claude 'Say hello'"
    # the terminal's input: a fifo held open here (an EOF would end the session at once)
    mkfifo "$work/tty.in"
    timeout 120 script -qfc "$run5" /dev/null <"$work/tty.in" >"$work/run5.out" 2>&1 &
    tui=$!
    exec 4>"$work/tty.in"
    asked=""
    for _ in $(seq 300); do
        if [ "$(wc -l <"$work/mock.log")" -gt "$seen" ]; then asked=1; break; fi
        sleep 0.2
    done
    "$engine" rm -f "$cname" >/dev/null 2>&1 || true
    kill "$tui" 2>/dev/null || true
    exec 4>&-
    wait "$tui" 2>/dev/null || true
    if [ -z "$asked" ]; then
        sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' "$work/run5.out" | tail -n 30
        fail "interactive claude did not send its first prompt within 60 s (a first-run screen waiting?)"
    fi
    checks=$((checks + 1))
    say "run 5: interactive claude went straight to the prompt"
else
    say "run 5 (interactive claude on a terminal) not run: \`script\` (util-linux) is missing"
fi

say "PASS ($checks checks)"
