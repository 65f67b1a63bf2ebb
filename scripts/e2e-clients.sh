#!/bin/sh
# Run only the real-client end-to-end tests (Claude Code CLI and Anthropic SDK through ccrelay).
# Installs the clients from tests/e2e/package-lock.json when they are missing or the lock changed,
# builds ccrelay, and ends with a line "N passed, N failed".
#   CLAUDE_CODE_VERSION=2.1.197 scripts/e2e-clients.sh   another Claude Code (installed on demand
#                                                         into ~/.cache/ccrelay-e2e)
#   CCRELAY_BIN=build-asan/ccrelay scripts/e2e-clients.sh a sanitizer build (make it first)
# Where `unshare -n` works (root), the tests run in a network namespace that has only a loopback
# interface, so no byte can leave the machine whatever a client tries; E2E_NETNS=0 turns that off.
set -eu
cd "$(dirname "$0")/.."
E2E=tests/e2e
stamp="$E2E/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$E2E/package-lock.json" -nt "$stamp" ]; then
  echo "e2e-clients: npm ci --prefix $E2E"
  npm ci --prefix "$E2E" --no-audit --no-fund >/dev/null
fi
[ -n "${CCRELAY_BIN:-}" ] || { make -s -j2 build/ccrelay >/dev/null; CCRELAY_BIN="$PWD/build/ccrelay"; }
if [ -n "${CLAUDE_CODE_VERSION:-}" ]; then # install it now, while the registry is reachable
  node --input-type=module -e "import { claudeCode } from './$E2E/clients/harness.mjs'; claudeCode();"
fi
wrap=""
if [ "${E2E_NETNS:-1}" != 0 ] && command -v ip >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
  echo "e2e-clients: running in a network namespace with loopback only"
  wrap="unshare -n sh -c 'ip link set lo up && exec \"\$@\"' sh"
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
CCRELAY_BIN="$(cd "$(dirname "$CCRELAY_BIN")" && pwd)/$(basename "$CCRELAY_BIN")"
CCRELAY_SHARED="${CCRELAY_SHARED:-${SHARED:-$(cd .. && pwd)/shared}}"
export CCRELAY_BIN CCRELAY_SHARED
eval "$wrap" node --test --test-concurrency=1 "$E2E/clients/" >"$out" 2>&1 || rc=$?
cat "$out"
pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$out" | tail -n 1)
fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$out" | tail -n 1)
skip=$(sed -n 's/^# skipped \([0-9]*\)$/\1/p' "$out" | tail -n 1)
echo "${pass:-0} passed, ${fail:-0} failed, ${skip:-0} skipped"
exit $rc
