#!/usr/bin/env bash
# Set up .venv if needed, then: train a DCGAN on MNIST digits (2000 of its 8000 default steps,
# about 80 s on 2 cores), export it to ONNX (checked against PyTorch), verify it again, and
# sample an 8x8 grid from the torch-free runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ge=.venv/bin/genedge
rm -rf demo && mkdir -p demo
$ge train dcgan --data mnist --steps 2000 --out demo/dcgan-mnist
$ge export demo/dcgan-mnist --out demo/dcgan.onnx
$ge verify demo/dcgan.onnx --against demo/dcgan-mnist
$ge sample demo/dcgan.onnx -n 64 --seed 0 --out demo/grid.png
$ge info demo/dcgan.onnx
echo "done: open demo/grid.png"
