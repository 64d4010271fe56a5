"""Training: PyTorch models, data, loop and metrics (needs the [train] extra)."""
