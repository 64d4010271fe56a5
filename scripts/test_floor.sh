#!/usr/bin/env bash
# The runtime against the lowest numpy and onnxruntime that pyproject.toml declares, with no
# train extra: artifacts are built in .venv (current versions), then loaded and sampled in
# .venv-floor, where train-only commands must name the missing extra in one line.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
floor() {  # the version after ">=" of a base dependency in pyproject.toml
  sed -n "s/^ *\"$1>=\([0-9.]*\)\".*/\1/p" pyproject.toml | head -1
}
NUMPY=$(floor numpy)
ORT=$(floor onnxruntime)
[ -n "$NUMPY" ] && [ -n "$ORT" ] || { echo "no numpy/onnxruntime floor in pyproject.toml" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
.venv/bin/python scripts/floor_artifacts.py "$out/artifacts"
if [ ! -x .venv-floor/bin/python ]; then
  "$PY" -m venv .venv-floor
fi
stamp=.venv-floor/.genedge-floor-$NUMPY-$ORT
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # The base install's dependencies only (no extras), numpy and onnxruntime at the floor.
  .venv-floor/bin/python -m pip install -q --disable-pip-version-check \
    "numpy==$NUMPY" "onnxruntime==$ORT" pytest .
  rm -f .venv-floor/.genedge-floor-*
  touch "$stamp"
fi
# genedge itself afresh each time (a wheel, as users get it), its dependencies left alone.
.venv-floor/bin/python -m pip install -q --disable-pip-version-check --no-deps \
  --force-reinstall .
echo "lowest versions: numpy $NUMPY, onnxruntime $ORT"
# Run from the artifacts folder so the installed genedge (not the source tree) is imported.
cd "$out"
GENEDGE_FLOOR_ARTIFACTS="$out/artifacts" GENEDGE_FLOOR_NUMPY=$NUMPY GENEDGE_FLOOR_ORT=$ORT \
  "$OLDPWD/.venv-floor/bin/python" -m pytest -q -p no:cacheprovider \
  --rootdir "$OLDPWD" -c "$OLDPWD/pyproject.toml" "$OLDPWD/tests/floor" "$@"
