"""Model families by name."""

from __future__ import annotations

from genedge.runtime.errors import InputError
from genedge.train.families.base import Family


def _registry() -> dict[str, type[Family]]:
    from genedge.train.families.cgan import CGANFamily
    from genedge.train.families.dcgan import DCGANFamily
    from genedge.train.families.gan import GANFamily
    from genedge.train.families.rgan import RGANFamily
    from genedge.train.families.vae import VAEFamily

    return {
        "gan": GANFamily,
        "dcgan": DCGANFamily,
        "cgan": CGANFamily,
        "vae": VAEFamily,
        "rgan": RGANFamily,
    }


def family_names() -> list[str]:
    return list(_registry())


def get_family(name: str) -> Family:
    """The family called ``name``.

    Raises:
        InputError: No such family.
    """
    reg = _registry()
    if name not in reg:
        raise InputError(f"unknown model family {name!r}; choose one of: {', '.join(reg)}")
    return reg[name]()
