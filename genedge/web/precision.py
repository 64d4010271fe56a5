"""``genedge web --precision fp16``: the model at half the bytes, for a lighter page.

The conversion is the export's own (:func:`genedge.export.precision.to_fp16`: float16 weights
and arithmetic, float32 inputs and outputs), so it needs the train extra's ``onnx`` and
``onnxconverter-common``; an artifact exported with ``--precision fp16`` is copied as it is.
"""

from __future__ import annotations

from genedge.runtime.manifest import METADATA_KEY, Manifest
from genedge.runtime.onnx_wire import with_metadata_prop


def fp16_model(data: bytes, manifest: Manifest) -> tuple[bytes, Manifest]:
    """An fp32 artifact's bytes converted to fp16, with the manifest saying so.

    Raises:
        ModuleNotFoundError: onnx or onnxconverter-common is missing (the CLI says which extra
            brings them).
    """
    import onnx

    from genedge.export.precision import to_fp16

    converted = to_fp16(onnx.load_from_string(data))
    updated = manifest.with_updates(precision="fp16")
    out = with_metadata_prop(converted.SerializeToString(), METADATA_KEY, updated.to_json())
    return out, updated
