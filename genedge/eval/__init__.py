"""Offline sample-quality evaluation, apart from training: what ``genedge eval``, the export
quality gate and ``benchmarks/quality.py`` run.

* :mod:`genedge.eval.evaluate`: :func:`~genedge.eval.evaluate.evaluate`, each metric beside
  its real-vs-real floor;
* :mod:`genedge.eval.metrics`: the metrics themselves (Fréchet distance, k-NN manifold metrics,
  mode coverage, class histograms);
* :mod:`genedge.eval.evalnets`: the small networks the metrics need (cached image classifier,
  TimeGAN's discriminative and predictive scores);
* :mod:`genedge.eval.text_metrics`: text models, torch-free (held-out loss through the
  artifact, distinct-n, verbatim copies, character frequencies).

Importing the package loads no torch, so text models are evaluated on a runtime-only install;
import the module you need.
"""
