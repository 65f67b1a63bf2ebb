#!/bin/sh
# Install what ccrelay needs to build and test on a Debian/Ubuntu machine (run as root, or with
# sudo available). Idempotent: packages already present are left alone.
set -eu
PKGS="build-essential pkg-config liblua5.4-dev libevent-dev libcjson-dev libssl-dev libcmocka-dev ca-certificates jq"
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
