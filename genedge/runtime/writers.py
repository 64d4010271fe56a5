"""Write samples to disk, format chosen by the output path's suffix; all writes are atomic.

=========  ===========================================================================
``.png``   a grid of images (8x8 for 64), or a scatter plot of 2-D points
``.npy``   float32 samples in data units, streamed chunk by chunk (flat memory)
``.npz``   ``x`` and, for conditional models, ``y``: a labelled synthetic data set
``.csv``   points: one row each; sequences: ``sample,t,f0,f1,...``
``.wav``   sequences: one feature as mono 16-bit PCM audio, the samples one after another;
           audio models: every clip, 0.25 s of silence between them
folder     one PNG per image sample, one ``.wav`` per audio sample (a path with no suffix)
=========  ===========================================================================
"""

from __future__ import annotations

import io
import math
import shutil
import tempfile
import wave
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from genedge.runtime.atomic import atomic_new_folder, atomic_path, write_bytes_atomic
from genedge.runtime.audio_writers import render_spectrograms, write_joined_wav, write_wav_folder
from genedge.runtime.errors import InputError, OutputError
from genedge.runtime.images import encode_png, make_grid, to_uint8, upscale
from genedge.runtime.manifest import Manifest

SUFFIXES = (".png", ".npy", ".npz", ".csv", ".wav")

Chunks = Iterable[tuple[np.ndarray, np.ndarray | None]]


def render_png(x: np.ndarray, manifest: Manifest, ncols: int | None = None) -> bytes:
    """PNG bytes of samples: an image grid, or a scatter plot for 2-D points."""
    if manifest.output_kind == "audio":
        return render_spectrograms(x, manifest, ncols)
    if manifest.output_kind == "image":
        imgs = to_uint8(x, manifest.value_range)
        grid = make_grid(imgs, ncols)
        # Tiles of at least ~56 px, so 8x8 digits and 28x28 MNIST are both easy to see.
        return encode_png(upscale(grid, max(1, math.ceil(56 / x.shape[-1]))))
    if manifest.output_kind == "points" and x.ndim == 2 and x.shape[1] == 2:
        return encode_png(scatter(x))
    if manifest.output_kind == "sequence":
        return encode_png(line_plot(x))
    raise InputError(f"cannot draw {manifest.output_kind} samples of shape {x.shape[1:]} as PNG")


def scatter(points: np.ndarray, size: int = 512) -> np.ndarray:
    """Rasterise 2-D points into a grey image (dark dots on white), axes scaled to the data."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = np.maximum(hi - lo, 1e-6).max() * 1.1
    centre = (lo + hi) / 2
    pix = ((points - centre) / span + 0.5) * (size - 1)
    img = np.full((size, size), 255, np.uint8)
    cols = np.clip(np.rint(pix[:, 0]).astype(int), 0, size - 1)
    rows = np.clip(np.rint((size - 1) - pix[:, 1]).astype(int), 0, size - 1)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            img[np.clip(rows + dr, 0, size - 1), np.clip(cols + dc, 0, size - 1)] = 0
    return img


def line_plot(seqs: np.ndarray, n: int = 16, height: int = 64, width: int = 192) -> np.ndarray:
    """Small multiples: the first feature of up to ``n`` sequences, one panel each."""
    seqs = seqs[:n, :, 0] if seqs.ndim == 3 else seqs[:n]
    lo, hi = float(seqs.min()), float(seqs.max())
    hi = hi if hi > lo else lo + 1
    ncols = 4
    nrows = math.ceil(len(seqs) / ncols)
    img = np.full((nrows * (height + 4), ncols * (width + 4)), 255, np.uint8)
    for i, s in enumerate(seqs):
        r, c = divmod(i, ncols)
        t = np.linspace(0, width - 1, 4 * width)
        v = np.interp(t, np.linspace(0, width - 1, len(s)), s)
        ys = (r * (height + 4) + (height - 1) * (1 - (v - lo) / (hi - lo))).astype(int)
        xs = (c * (width + 4) + t).astype(int)
        img[ys, xs] = 0
    return img


def write_samples(
    path: str | Path,
    chunks: Chunks,
    manifest: Manifest,
    n: int,
    label_names: bool = False,
    *,
    sample_rate: int = 8000,
    feature: int = 0,
) -> Path:
    """Write streamed ``(x, y)`` chunks of ``n`` samples to ``path`` by its suffix.

    ``.npy``, ``.npz``, ``.csv`` and ``.wav`` stream chunk by chunk and folders write one file
    per sample, so memory stays flat for any ``n``. A ``.png`` is one picture of every sample:
    it gathers them, and is refused up front past :data:`MAX_PNG_SAMPLES` images or
    :data:`MAX_GATHER_BYTES`. Nothing is left behind if writing fails.

    Args:
        sample_rate: ``.wav`` only: frames per second.
        feature: ``.wav`` only: which feature of the sequences becomes the waveform.

    Raises:
        OutputError: The path's folder is missing or not writable, the suffix is unknown, or a
            ``.png`` would hold too many samples.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == "" and manifest.output_kind == "audio":
        return write_wav_folder(path, chunks, manifest)
    if suffix == "":
        return _write_folder(path, chunks, manifest)
    if suffix not in SUFFIXES:
        raise OutputError(
            f"cannot write {path.name}: use a .png, .npy, .npz, .csv or .wav file, or a folder"
        )
    if not path.parent.exists() and str(path.parent):
        raise OutputError(f"cannot write {path}: folder {path.parent} does not exist")
    if suffix == ".npy":
        return _write_npy(path, chunks, manifest, n)
    if suffix == ".wav" and manifest.output_kind == "audio":
        return write_joined_wav(path, chunks, manifest)
    if suffix == ".wav":
        return _write_wav(path, chunks, manifest, sample_rate, feature)
    if suffix == ".npz":
        return _write_npz(path, chunks, n)
    if suffix == ".csv":
        return _write_csv(path, chunks, manifest, n)
    check_png_size(n, manifest)
    xs = [x for x, _ in chunks]
    write_bytes_atomic(path, render_png(np.concatenate(xs), manifest))
    return path


#: A .png grid of more images than this is unreadable anyway: write a folder instead.
MAX_PNG_SAMPLES = 4096
#: A .png gathers its samples in memory; past this many bytes of samples it is refused.
MAX_GATHER_BYTES = 256 * 2**20


def check_png_size(n: int, manifest: Manifest) -> None:
    """Refuse, before any sample is drawn, a ``.png`` of ``n`` samples that would be unreadable
    or would not fit the memory bound; the message names the streaming alternatives."""
    nbytes = 4 * n * math.prod(int(d) for d in manifest.sample_shape if isinstance(d, int))
    if manifest.output_kind == "image" and n > MAX_PNG_SAMPLES:
        raise OutputError(
            f"a .png grid holds at most {MAX_PNG_SAMPLES} images, not {n}: write a folder "
            "(--out DIR, one PNG each) or a .npy file, which stream"
        )
    if nbytes > MAX_GATHER_BYTES:
        raise OutputError(
            f"a .png of {n} samples needs {nbytes / 2**20:.0f} MiB in memory (at most "
            f"{MAX_GATHER_BYTES // 2**20} MiB): write .npy, .npz or .csv, which stream, or fewer"
        )


def _write_csv(path: Path, chunks: Chunks, manifest: Manifest, n: int) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        written = 0
        for x, _ in chunks:
            f.write(_csv(x, manifest, header=written == 0, first_index=written))
            written += len(x)
        if written != n:
            raise OutputError(f"expected {n} samples, got {written}")
    return path


def _write_npz(path: Path, chunks: Chunks, n: int) -> Path:
    """``x`` (and ``y`` for labelled samples) as .npy members of an uncompressed zip, written
    chunk by chunk; labels wait in a temporary file until ``x`` is complete."""
    with (
        atomic_path(path) as tmp,
        zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf,
        tempfile.TemporaryFile() as labels,
    ):
        written, shape = 0, None
        with zf.open("x.npy", "w", force_zip64=True) as member:
            for x, y in chunks:
                if shape is None:
                    shape = (n, *x.shape[1:])
                    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
                    np.lib.format.write_array_header_1_0(member, header)
                member.write(np.ascontiguousarray(x, dtype="<f4").tobytes())
                if y is not None:
                    labels.write(np.ascontiguousarray(y, dtype="<i8").tobytes())
                written += len(x)
        if written != n:
            raise OutputError(f"expected {n} samples, got {written}")
        if labels.tell():
            labels.seek(0)
            with zf.open("y.npy", "w", force_zip64=True) as member:
                header = {"descr": "<i8", "fortran_order": False, "shape": (n,)}
                np.lib.format.write_array_header_1_0(member, header)
                shutil.copyfileobj(labels, member, 2**20)
    return path


def _write_npy(path: Path, chunks: Chunks, manifest: Manifest, n: int) -> Path:
    # Header first, then each chunk appended with a plain write: unlike a memory map, the
    # written pages do not stay resident, so peak memory is one chunk whatever n is.
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        written = 0
        for x, _ in chunks:
            if written == 0:
                header = {"descr": "<f4", "fortran_order": False, "shape": (n, *x.shape[1:])}
                np.lib.format.write_array_header_1_0(f, header)
            f.write(np.ascontiguousarray(x, dtype="<f4").tobytes())
            written += len(x)
        if written != n:
            raise OutputError(f"expected {n} samples, got {written}")
    return path


def _write_wav(
    path: Path, chunks: Chunks, manifest: Manifest, sample_rate: int, feature: int
) -> Path:
    """One feature of every sequence, concatenated, as mono 16-bit PCM; the data range maps
    onto full scale [-1, 1] (values outside it are clipped)."""
    if manifest.output_kind != "sequence":
        raise OutputError(
            f"a .wav holds sequences, but this model makes {manifest.output_kind} samples"
        )
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise InputError(f"sample rate must be a positive integer, got {sample_rate!r}")
    features = int(manifest.sample_shape[-1])
    if isinstance(feature, bool) or not isinstance(feature, int) or not 0 <= feature < features:
        raise InputError(f"feature must be 0..{features - 1} for this model, got {feature!r}")
    lo, hi = manifest.value_range
    # wave patches the frame count into the header on close (before the rename), so chunks
    # stream straight through.
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        for x, _ in chunks:
            v = (x[:, :, feature].reshape(-1) - lo) * (2.0 / (hi - lo)) - 1.0
            pcm = np.rint(np.clip(v, -1.0, 1.0) * 32767).astype("<i2")
            w.writeframes(pcm.tobytes())
    return path


def _write_folder(path: Path, chunks: Chunks, manifest: Manifest) -> Path:
    if manifest.output_kind != "image":
        raise OutputError("a folder of PNGs needs image samples; use .npy or .csv instead")
    with atomic_new_folder(path) as tmp:
        i = 0
        for x, y in chunks:
            imgs = to_uint8(x, manifest.value_range)
            for k, img in enumerate(imgs):
                tag = "" if y is None else f"-class{int(y[k])}"
                arr = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
                (tmp / f"{i:06d}{tag}.png").write_bytes(encode_png(arr))
                i += 1
    return path


def _csv(x: np.ndarray, manifest: Manifest, header: bool = True, first_index: int = 0) -> str:
    """CSV text of one chunk: points one row each, sequences one row per step; ``first_index``
    numbers the chunk's first sequence."""
    out = io.StringIO()
    if x.ndim == 2:
        if header:
            out.write(",".join(f"x{i}" for i in range(x.shape[1])) + "\n")
        np.savetxt(out, x, delimiter=",", fmt="%.7g")
    elif x.ndim == 3:
        n, t, f = x.shape
        idx = np.stack(
            np.meshgrid(np.arange(n) + first_index, np.arange(t), indexing="ij"), -1
        ).reshape(-1, 2)
        if header:
            out.write("sequence,t," + ",".join(f"f{i}" for i in range(f)) + "\n")
        rows = np.concatenate([idx.astype(np.float64), x.reshape(-1, f)], axis=1)
        np.savetxt(out, rows, delimiter=",", fmt=["%d", "%d"] + ["%.7g"] * f)
    else:
        raise OutputError(
            f"CSV holds points or sequences, not samples shaped {x.shape[1:]}; use .npy"
        )
    return out.getvalue()
