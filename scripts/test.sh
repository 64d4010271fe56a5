#!/usr/bin/env bash
# Set up .venv if needed, then lint and run the test suite (slow quality runs excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
# Types: all of genedge (the runtime strict; see [tool.mypy] in pyproject.toml).
.venv/bin/mypy --follow-imports=silent genedge
# Tests run in parallel processes, one per core (GENEDGE_TEST_WORKERS=0: in this process),
# a module's tests together, so each module's fixtures are built once.
.venv/bin/python -m pytest -m "not slow and not gpu" -n "${GENEDGE_TEST_WORKERS:-auto}" \
  --dist loadscope "$@"
