#!/usr/bin/env bash
# Set up .venv if needed, then lint and run the test suite (slow quality runs excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest -m "not slow and not gpu" "$@"
