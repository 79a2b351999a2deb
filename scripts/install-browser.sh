#!/usr/bin/env bash
# Install Debian's Chromium for the browser end-to-end test (tests/transports/test_webrtc_browser.py).
# Idempotent: exits 0 at once if /usr/bin/chromium is already there. Needs root (or sudo) and apt.
# Never `playwright install`: the test drives this browser through Playwright's executable_path.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version
