#!/usr/bin/env bash
# The browser suite: installs playwright-core (pinned in package-lock.json), builds the
# service and runs tests/web/e2e.mjs in Debian's headless Chromium (/usr/bin/chromium, or
# $CHROMIUM). Needs Redis on 127.0.0.1:6379 (or REDIS_URL).
set -euo pipefail
cd "$(dirname "$0")"
{ [ -d node_modules/playwright-core ] && [ -d node_modules/axe-core ] && [ -d node_modules/world-atlas ]; } || npm ci --no-audit --no-fund
# The base map in the binary is what tests/web/world-svg.mjs makes from Natural Earth.
node world-svg.mjs --check
cargo build -q --bin clearway
node e2e.mjs
