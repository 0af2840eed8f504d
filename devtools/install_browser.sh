#!/usr/bin/env bash
# The console's browser tests drive Debian's Chromium through chromedriver. Installed here when
# missing and running as root (a no-op once they are there); otherwise this says how, and the
# browser tests skip, saying why. Never fails the build: the rest of the suite runs either way.
set -u
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 \
         && apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null 2>&1; } \
    || echo "warning: could not install chromium and chromium-driver; the console's browser tests will be skipped" >&2
else
  echo "note: chromium and chromium-driver are not installed (as root: apt-get install chromium chromium-driver); the console's browser tests will be skipped" >&2
fi
exit 0
