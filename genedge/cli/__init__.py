"""The ``genedge`` command line: parse, call one library function, print.

Each command lives in the module of its group (``train_cmd``, ``export_cmd``, ``sample_cmd``,
``info_cmd``, ``bench_cmd``, ``calibrate_cmd``, ``eval_cmd``, ``repair_cmd``, ``data_cmd``,
``web_cmd``) as a plain function, registered below on the one app of :mod:`genedge.cli._app`,
in the order ``--help`` lists them. Commands that need PyTorch import it lazily, so ``genedge
sample model.onnx`` and ``genedge info`` start as fast as the runtime does. Errors a user can
cause print one line on stderr and exit with code 2 (:func:`main`).
"""

from __future__ import annotations

from genedge.cli._app import app
from genedge.cli._main import main
from genedge.cli.bench_cmd import bench
from genedge.cli.byom_cmd import wrap
from genedge.cli.calibrate_cmd import calibrate
from genedge.cli.data_cmd import data_app
from genedge.cli.eval_cmd import eval_
from genedge.cli.export_cmd import compile_, export, verify
from genedge.cli.info_cmd import info
from genedge.cli.repair_cmd import repair
from genedge.cli.sample_cmd import interpolate, merge, reconstruct, sample
from genedge.cli.train_cmd import train
from genedge.cli.web_cmd import web

app.command()(train)
app.command()(export)
app.command("compile")(compile_)
app.command()(verify)
app.command()(wrap)
app.command()(sample)
app.command()(merge)
app.command()(info)
app.command()(bench)
app.command()(calibrate)
app.command()(reconstruct)
app.command()(interpolate)
app.command()(repair)
app.command("eval")(eval_)
app.add_typer(data_app, name="data")
app.command()(web)

__all__ = ["app", "main"]
