"""Export: ONNX graphs with a manifest, parity against PyTorch, graph lint (needs [train]).

Bring your own generator::

    from genedge.export import export_module, verify_module
    result = export_module(G, "g.onnx", latent_shape=(100, 1, 1), value_range=(0, 255),
                           model_range=(-1, 1))
    report = verify_module("g.onnx", G)
"""

from __future__ import annotations

from typing import Any

__all__ = ["export_module", "export_run", "verify_artifact", "verify_module", "wrap_onnx"]

_HOMES = {
    "export_module": "genedge.export.module_export",
    "verify_module": "genedge.export.module_export",
    "export_run": "genedge.export.onnx_export",
    "verify_artifact": "genedge.export.onnx_export",
    "wrap_onnx": "genedge.export.wrap",
}


def __getattr__(name: str) -> Any:
    # Lazy, so importing one submodule (e.g. genedge.export.lint) does not load torch.
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'genedge.export' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(home), name)
