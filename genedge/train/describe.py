"""Build an artifact manifest from a run: the one place that maps a trained run to the contract."""

from __future__ import annotations

from typing import Any

from genedge.runtime.audio_spec import AudioSpec
from genedge.runtime.manifest import Manifest, contract_from_hparams
from genedge.train.families.base import Family
from genedge.train.run import RunConfig


def manifest_for_run(
    cfg: RunConfig,
    family: Family,
    step: int,
    *,
    precision: str = "fp32",
    parity: dict[str, Any] | None = None,
) -> Manifest:
    """The manifest an export of this run carries (graphs, I/O, units, provenance)."""
    info = cfg.data_info
    hp = family.from_hparams(cfg.hparams)
    graphs = family.graphs(hp, info)
    conditional = any(t.role == "label" for t in graphs["sampler"].inputs)
    return Manifest(
        **contract_from_hparams(cfg.hparams),
        family=cfg.family,
        graphs=graphs,
        latent_dim=family.latent_dim(hp),
        output_kind=family.output_kind(info),
        sample_shape=family.sample_shape(info),
        preprocessing=cfg.preprocessing,
        num_classes=info.num_classes if conditional else 0,
        class_names=info.class_names,
        precision=precision,
        default_length=family.default_length(info),
        provenance={
            **cfg.provenance,
            "data": cfg.data,
            "data_size": info.size,
            "seed": cfg.seed,
            "step": step,
            "hparams": cfg.hparams,
        },
        parity=parity or {},
        audio=AudioSpec.from_dict(info.audio, "run.data_info.audio") if info.audio else None,
    )
