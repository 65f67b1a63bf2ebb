#!/bin/sh
# Install what ccrelay needs to build and test on a Debian/Ubuntu machine (run as root, or with
# sudo available). Idempotent: packages already present are left alone.
set -eu
cd "$(dirname "$0")/.."
PKGS="build-essential pkg-config liblua5.4-dev libevent-dev libcjson-dev libssl-dev libcmocka-dev libyaml-dev ca-certificates jq"
TEST_PKGS="nodejs npm"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
command -v node >/dev/null 2>&1 || missing="$missing $TEST_PKGS"
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
echo "setup: build dependencies present"
# The real clients of the end-to-end tests (Claude Code's native binary, the Anthropic SDK),
# pinned by the committed lock file.
# (again when the lock file changed since the last install)
if [ -f tests/e2e/package-lock.json ] && { [ ! -f tests/e2e/node_modules/.package-lock.json ] ||
   [ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.package-lock.json ]; }; then
  echo "setup: installing the test clients (npm ci --prefix tests/e2e)"
  npm ci --prefix tests/e2e --silent
fi
