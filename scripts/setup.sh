#!/usr/bin/env bash
# Create .venv (once) and install genedge with its training and test extras.
# torch is pinned through constraints.txt to the CPU wheel these machines carry.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.genedge-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[train,dev,openvino]"
  touch "$stamp"
fi
