"""Model families by name: genedge's own, those registered with :func:`register_family`, and
those third-party packages declare under the ``genedge.families`` entry point group.

A package adds a family without editing genedge::

    # pyproject.toml of the package
    [project.entry-points."genedge.families"]
    acme = "acme_genedge:AcmeFamily"

or, in code, by decorating the class::

    @register_family("acme")
    class AcmeFamily(Family): ...
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TypeVar

from genedge.runtime.errors import InputError
from genedge.train.families.base import Family

#: Entry point group where other packages declare their families.
ENTRY_POINT_GROUP = "genedge.families"

#: genedge's own families, imported on first use (each pulls in its networks).
_BUILT_IN = {
    "gan": "genedge.train.families.gan:GANFamily",
    "dcgan": "genedge.train.families.dcgan:DCGANFamily",
    "cgan": "genedge.train.families.cgan:CGANFamily",
    "vae": "genedge.train.families.vae:VAEFamily",
    "rgan": "genedge.train.families.rgan:RGANFamily",
    "text": "genedge.train.families.text:TextFamily",
    "audio": "genedge.train.families.audio:AudioFamily",
}
_registered: dict[str, type[Family]] = {}

F = TypeVar("F", bound=type[Family])


def register_family(name: str) -> Callable[[F], F]:
    """Class decorator: make ``genedge train NAME`` (and every other command) use this family.

    Raises:
        InputError: ``name`` is already a family, or the class is not a :class:`Family`.
    """

    def add(cls: F) -> F:
        if not (isinstance(cls, type) and issubclass(cls, Family)):
            raise InputError(f"family {name!r} must be a subclass of genedge's Family")
        if name in _BUILT_IN or name in _registered:
            raise InputError(f"a family called {name!r} exists already")
        _registered[name] = cls
        return cls

    return add


def unregister_family(name: str) -> None:
    """Forget a family added with :func:`register_family` (tests, notebooks)."""
    _registered.pop(name, None)


def _load(target: str) -> type[Family]:
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Family)):
        raise InputError(f"{target} is not a genedge Family")
    return cls


def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def family_names() -> list[str]:
    """Every family name known here: built in, registered, and from entry points."""
    names = [*_BUILT_IN, *_registered]
    return names + [n for n in _entry_points() if n not in names]


def get_family(name: str) -> Family:
    """The family called ``name``.

    Raises:
        InputError: No such family.
    """
    if name in _BUILT_IN:
        return _load(_BUILT_IN[name])()
    if name in _registered:
        return _registered[name]()
    plugins = _entry_points()
    if name in plugins:
        return _load(plugins[name])()
    raise InputError(f"unknown model family {name!r}; choose one of: {', '.join(family_names())}")
