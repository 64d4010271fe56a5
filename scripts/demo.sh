#!/usr/bin/env bash
# Set up .venv if needed, then: train the classic GAN on MNIST digits, export it to ONNX
# (checked against PyTorch), verify it again, and sample an 8x8 grid from the torch-free runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ge=.venv/bin/genedge
rm -rf demo && mkdir -p demo
$ge train gan --data mnist --out demo/gan-mnist
$ge export demo/gan-mnist --out demo/gan.onnx
$ge verify demo/gan.onnx --against demo/gan-mnist
$ge sample demo/gan.onnx -n 64 --seed 0 --out demo/grid.png
$ge info demo/gan.onnx
echo "done: open demo/grid.png"
