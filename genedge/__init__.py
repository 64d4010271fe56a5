"""genedge: train small generative models, export their samplers to ONNX, sample fast anywhere.

The light part, :mod:`genedge.runtime`, needs only numpy and onnxruntime. Training
(:mod:`genedge.train`) and export (:mod:`genedge.export`) need the ``[train]`` extra.
"""

__version__ = "0.1.0"
