"""genedge in the browser and in Node: ``genedge web`` writes a self-contained demo folder
(the model, ``genedge.js``, vendored onnxruntime-web and ``index.html``); the JavaScript
runtime in ``assets/`` draws the same seeded noise as :mod:`genedge.runtime.noise`.

Imports the runtime only (the fp16 conversion lazily imports the export room's onnx code).
"""

from __future__ import annotations

from genedge.web.build import WEB_PRECISIONS, PageWeight, WebBuild, build_web
from genedge.web.ort_files import ORT_WEB_VERSION, OrtFilesMissing, find_ort_files

__all__ = [
    "ORT_WEB_VERSION",
    "WEB_PRECISIONS",
    "OrtFilesMissing",
    "PageWeight",
    "WebBuild",
    "build_web",
    "find_ort_files",
]
