"""Offline sample-quality evaluation, apart from training: what ``genedge eval``, the export
quality gate and ``benchmarks/quality.py`` run.

* :mod:`genedge.eval.evaluate`: :func:`evaluate`, each metric beside its real-vs-real floor;
* :mod:`genedge.eval.metrics`: the metrics themselves (Fréchet distance, k-NN manifold metrics,
  mode coverage, class histograms);
* :mod:`genedge.eval.evalnets`: the small networks the metrics need (cached image classifier,
  TimeGAN's discriminative and predictive scores).
"""

from genedge.eval.evaluate import evaluate

__all__ = ["evaluate"]
