#!/usr/bin/env bash
# The web tests (tests/web: genedge.js in Node and the demo page in headless Chromium), with
# missing tools a failure rather than a skip. Installs what they need when it is missing:
# Debian's chromium (never a downloaded browser build) and web/'s npm packages (npm ci, no
# install scripts: nothing is downloaded after the registry's tarballs).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
if ! command -v chromium >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium
fi
if [ ! -d web/node_modules/onnxruntime-web ] || [ ! -d web/node_modules/playwright-core ] \
    || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    (cd web && ONNXRUNTIME_NODE_INSTALL=skip PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
        npm ci --ignore-scripts --no-audit --no-fund)
fi
GENEDGE_REQUIRE_WEB=1 .venv/bin/python -m pytest tests/web -p no:cacheprovider "$@"
