"""The wheel a user installs: its licence, metadata and PyPI description."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-w",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    (whl,) = out.glob("genedge-*.whl")
    return whl, r.stderr


def _metadata(whl: Path) -> tuple[zipfile.ZipFile, object]:
    z = zipfile.ZipFile(whl)
    name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    return z, Parser().parsestr(z.read(name).decode())


def test_the_wheel_carries_the_apache_licence(wheel: tuple[Path, str]) -> None:
    z, meta = _metadata(wheel[0])
    licence = next(n for n in z.namelist() if n.endswith(".dist-info/licenses/LICENSE"))
    text = z.read(licence).decode()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert meta["License-Expression"] == "Apache-2.0"  # type: ignore[index]
    assert (ROOT / "LICENSE").read_text() == text


def test_metadata_has_classifiers_and_no_deprecated_licence_table(
    wheel: tuple[Path, str],
) -> None:
    _, meta = _metadata(wheel[0])
    classifiers = meta.get_all("Classifier")  # type: ignore[attr-defined]
    assert "Typing :: Typed" in classifiers
    assert any(c.startswith("Programming Language :: Python :: 3.1") for c in classifiers)
    assert "License ::" not in " ".join(classifiers)  # superseded by License-Expression
    assert "deprecat" not in wheel[1].lower(), wheel[1]


def test_pypi_description_has_no_relative_links_or_developer_advice(
    wheel: tuple[Path, str],
) -> None:
    _, meta = _metadata(wheel[0])
    body = meta.get_payload()  # type: ignore[attr-defined]
    assert "genedge[train]" in body
    links = re.findall(r"\]\(([^)]+)\)", body)
    assert all(link.startswith(("http://", "https://")) for link in links), links
    assert "constraints.txt" not in body and "project's machines" not in body
