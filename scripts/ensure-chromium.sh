#!/usr/bin/env bash
# Make sure a headless Chromium is available for the browser tests (Playwright drives it).
#
# `playwright install` downloads its own browser builds, which is not possible everywhere (and
# not needed): the tests launch the distribution's Chromium at CHROMIUM (default
# /usr/bin/chromium). This script only installs it when it is missing; it never starts
# anything. Idempotent and quiet on success.
#
#   1. CHROMIUM exists and runs: nothing to do.
#   2. apt-get is available (and we are root): install Debian's `chromium` package.
#   3. Otherwise: say what to install, exit 1.
#
# Environment: CHROMIUM (default /usr/bin/chromium).
# Exit status: 0 when the browser is available; 1 otherwise, with the reason on stderr.
set -euo pipefail

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

works() {
    [[ -x "$CHROMIUM" ]] && "$CHROMIUM" --headless --no-sandbox --version >/dev/null 2>&1
}

if works; then
    exit 0
fi

if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
    echo "ensure-chromium: installing chromium with apt-get..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    hash -r
    if works; then
        exit 0
    fi
    echo "ensure-chromium: apt-get installed chromium but $CHROMIUM does not run." >&2
    exit 1
fi

echo "ensure-chromium: no Chromium at $CHROMIUM; install your distribution's chromium" \
    "package (Debian/Ubuntu: apt-get install chromium) or set CHROMIUM to its path." >&2
exit 1
