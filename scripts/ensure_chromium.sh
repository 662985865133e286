#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through Playwright (nothing is downloaded at test time).
# Install it when it is missing and this machine can: as root, with apt-get. Otherwise the browser tests
# skip with the reason locally, and fail in CI (CI=true).
set -uo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get > /dev/null; then
  echo "Chromium is not installed (/usr/bin/chromium) and cannot be installed here: browser tests will not run" >&2
  exit 0
fi
echo "== installing Debian's chromium for the browser tests"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q chromium > /dev/null \
  || { apt-get update -q > /dev/null && apt-get install -y -q chromium > /dev/null; } \
  || echo "chromium could not be installed: the browser tests will not run" >&2
