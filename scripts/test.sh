#!/usr/bin/env bash
# Set up .venv if needed, then lint and run the test suite (slow quality runs excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
# Typed so far: the runtime (strict), bench and export; train, eval and the CLI follow.
.venv/bin/mypy --follow-imports=silent genedge/runtime genedge/bench genedge/export
.venv/bin/python -m pytest -m "not slow and not gpu" "$@"
