"""Build one small artifact per family, with the samples the current versions give, for the
lowest-versions check (scripts/test_floor.sh): the runtime must load and reproduce them with
the oldest numpy and onnxruntime that pyproject.toml admits."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from genedge.export import export_module, wrap_onnx
from genedge.export.onnx_export import export_run
from genedge.runtime import Sampler, TextSampler
from genedge.train.loop import train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "export"))
import byom_models as bm  # noqa: E402

#: (artifact name, family, data, steps, overrides, precision)
CASES = [
    ("gan", "gan", "ring8", 20, {}, "fp32"),
    ("dcgan", "dcgan", "digits", 5, {}, "fp32"),
    ("dcgan-fp16", "dcgan", "digits", 5, {}, "fp16"),
    ("cgan", "cgan", "digits", 5, {}, "fp32"),
    ("vae", "vae", "digits", 20, {}, "fp32"),
    ("rgan", "rgan", "sines", 5, {}, "fp32"),
]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    expected: dict[str, np.ndarray] = {}
    runs = {}
    for name, family, data, steps, overrides, precision in CASES:
        run = out / "runs" / f"{family}-{data}"
        if run not in runs.values():
            train(
                run,
                family,
                data,
                overrides={"steps": steps, **overrides},
                seed=0,
                device="cpu",
                checkpoint_every=steps,
                sample_every=steps,
                threads=1,
            )
            runs[name] = run
        path = out / f"{name}.onnx"
        export_run(run, path, precision=precision, quality_check=False)
        expected[name] = Sampler(path, backend="cpu", threads=1).sample(8, seed=0)
    for name, path in _custom(out).items():
        expected[name] = Sampler(path, backend="cpu", threads=1).sample(8, seed=0)
    np.savez(out / "expected.npz", **expected)
    texts = _text(out)
    print(f"wrote {len(expected) + len(texts)} artifacts, expected.npz and text.json to {out}")


#: What the text artifact is asked for (the floor test asks the same).
TEXT_REQUEST = {"prompt": "ROMEO:", "n": 3, "length": 60, "seed": 0, "top_k": 8}
TEXT_CORPUS = "ROMEO:\nBut soft, what light through yonder window breaks?\n\nJULIET:\nAy me.\n\n"


def _text(out: Path) -> dict[str, list[str]]:
    """A tiny text model, its corpus, and the text it gives for :data:`TEXT_REQUEST`."""
    from genedge.export.text_export import export_text_run

    (out / "corpus.txt").write_text(TEXT_CORPUS * 40, encoding="utf-8")
    small = {"embed": 16, "hidden": 32, "layers": 1, "length": 32, "batch_size": 8, "steps": 30}
    run = out / "runs" / "text"
    train(run, "text", str(out / "corpus.txt"), overrides=small, seed=0, device="cpu", threads=1)
    export_text_run(run, out / "text.onnx")
    texts = {
        "text": TextSampler(out / "text.onnx", backend="cpu", threads=1).generate(**TEXT_REQUEST)
    }
    (out / "text.json").write_text(json.dumps({"request": TEXT_REQUEST, **texts}), "utf-8")
    return texts


def _custom(out: Path) -> dict[str, Path]:
    """Artifacts of generators genedge did not train: a module with a noise input, one with
    noise maps and a truncation psi, and a plain ONNX file wrapped."""
    torch.manual_seed(0)
    image = {"value_range": (0.0, 255.0), "model_range": (-1.0, 1.0)}
    dcgan = bm.randomise_batchnorm(bm.NoiseAsInputDCGAN(ngf=4)).eval()
    export_module(
        dcgan, out / "custom.onnx", latent_shape=(100, 1, 1), noise={"noise": (100, 1, 1)}, **image
    )
    style = bm.StyleLike().eval()
    export_module(
        style,
        out / "custom-style.onnx",
        latent_shape=(16,),
        noise={"noise0": (1, 4, 4), "noise1": (1, 8, 8)},
        truncation=True,
        **image,
    )
    plain_module = bm.randomise_batchnorm(bm.ExamplesDCGAN(ngf=4)).eval()
    plain = out / "plain.onnx"
    torch.onnx.export(
        plain_module,
        (torch.zeros(2, 100, 1, 1),),
        str(plain),
        input_names=["input"],
        output_names=["out"],
        dynamic_axes={"input": {0: "N"}, "out": {0: "N"}},
        dynamo=False,
    )
    wrap_onnx(plain, out / "wrapped.onnx", against=plain_module, **image)
    return {n: out / f"{n}.onnx" for n in ("custom", "custom-style", "wrapped")}


if __name__ == "__main__":
    main(Path(sys.argv[1]))
