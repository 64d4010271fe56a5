"""Export: ONNX graphs with a manifest, parity against PyTorch, graph lint (needs [train])."""
