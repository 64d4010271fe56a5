#!/usr/bin/env bash
# Set up .venv if needed, then lint and run the test suite (slow quality runs excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
# Types: all of genedge (the runtime strict; see [tool.mypy] in pyproject.toml).
.venv/bin/mypy --follow-imports=silent genedge
.venv/bin/python -m pytest -m "not slow and not gpu" "$@"
