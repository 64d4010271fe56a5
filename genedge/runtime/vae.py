"""VAE artifacts at run time: encode, reconstruct and repair data, torch-free.

A VAE artifact set is the decoder (the ``sampler`` graph, which :class:`Sampler` runs) plus an
``encoder`` companion named in the manifest. :class:`VAESampler` is a :class:`Sampler` that also
loads the encoder, so one object samples, encodes and decodes.

Example:
    >>> vae = VAESampler("vae.onnx")
    >>> mu, logvar = vae.encode(images)     # images in data units, (n, 1, 28, 28)
    >>> fixed = vae.repair(damaged, mask)   # mask: 1 = known pixel, 0 = missing
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from genedge.runtime.artifact import read_manifest
from genedge.runtime.backends import BACKEND_OPTIONS, Backend, create_backend
from genedge.runtime.errors import ArtifactError, InputError
from genedge.runtime.images import read_image, to_uint8
from genedge.runtime.manifest import GraphSpec, Manifest
from genedge.runtime.sampler import Sampler
from genedge.runtime.writers import render_png

#: Encode -> decode rounds of :meth:`VAESampler.repair` unless told otherwise.
REPAIR_STEPS = 50


def encoder_spec(manifest: Manifest, where: str = "this artifact") -> GraphSpec:
    """The manifest's encoder graph.

    Raises:
        InputError: The artifact has no encoder (it is not a VAE).
    """
    spec = manifest.graphs.get("encoder")
    if spec is None or spec.input("data") is None:
        raise InputError(
            f"{where} is not a VAE (its family is {manifest.family}): encoding, "
            "reconstruction and repair need a VAE artifact (genedge train vae ...)"
        )
    return spec


class VAESampler(Sampler):
    """A :class:`Sampler` over a VAE artifact set that can also encode data. Loads no torch.

    Args:
        path: The VAE's ``.onnx`` file (its decoder); the encoder companion named in its
            manifest must sit beside it.
        backend: As for :class:`Sampler`; the encoder runs on the same backend.
        threads: CPU threads for onnxruntime.

    Raises:
        InputError: The artifact is not a VAE (it has no encoder graph).
        ArtifactError: The artifact or its encoder file is missing or corrupt.
        CompanionError: ``path`` is the encoder companion itself (``vae.encoder.onnx is the
            encoder of vae.onnx: open vae.onnx``).
    """

    def __init__(
        self,
        path: str | Path,
        backend: str = "auto",
        threads: int | None = None,
        backend_options: Mapping[str, object] | None = None,
    ) -> None:
        path = Path(path)
        spec = encoder_spec(read_manifest(path), path.name)
        companion = path.parent / str(spec.file)
        if not companion.is_file():
            raise ArtifactError(
                f"the encoder of {path.name} is missing: expected {companion.name} beside it "
                "(copy both files, or re-export the model)"
            )
        super().__init__(path, backend=backend, threads=threads, backend_options=backend_options)
        # The decoder's resolved backend, so "auto" cannot put the two graphs on two devices;
        # its options too (already validated), as far as that backend takes them.
        takes = BACKEND_OPTIONS.get(self.backend, ())
        options = {k: v for k, v in (backend_options or {}).items() if k in takes}
        self._attach_encoder(create_backend(self.backend, companion, threads=threads, **options))

    @classmethod
    def from_backends(cls, manifest: Manifest, decoder: Backend, encoder: Backend) -> VAESampler:
        """A VAE sampler over any two backends (e.g. genedge's PyTorch reference modules)."""
        encoder_spec(manifest)
        self = cls.from_backend(manifest, decoder)
        self._attach_encoder(encoder)
        return self

    def _attach_encoder(self, encoder: Backend) -> None:
        data_input = encoder_spec(self.manifest).input("data")
        if data_input is None:  # encoder_spec refuses an encoder without one
            raise InputError("the encoder graph has no data input")
        self._encoder = encoder
        self._data_input = data_input

    def close(self) -> None:
        """Release both graphs' sessions and device memory now."""
        try:
            self._encoder.close()
        finally:
            super().close()

    # -- encoding ----------------------------------------------------------------------------

    def encode(self, x: object, *, batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The posterior q(z|x) of each sample: its mean and log-variance.

        Args:
            x: Samples in data units, shaped ``(n, *sample_shape)`` (e.g. ``(n, 1, 28, 28)``).
            batch_size: Samples per backend call. Defaults to a size that bounds memory.

        Returns:
            ``(mu, logvar)``, each float32 ``(n, latent_dim)``.

        Raises:
            InputError: ``x`` has the wrong shape, is empty, or holds NaN/Inf.
        """
        model = self.to_model_units(self._check_data(x))
        bs = self._batch_size(batch_size, None, len(model))
        mus, logvars = [], []
        for s in range(0, len(model), bs):
            # The encoder graph's outputs are (mu, logvar), in that order.
            mu, logvar = self._encoder.run({self._data_input.name: model[s : s + bs]})[:2]
            mus.append(np.asarray(mu, np.float32))
            logvars.append(np.asarray(logvar, np.float32))
        return np.concatenate(mus), np.concatenate(logvars)

    def reconstruct(self, x: object, *, batch_size: int | None = None) -> np.ndarray:
        """Decode each sample's posterior mean: the model's reconstruction, in data units."""
        mu, _ = self.encode(x, batch_size=batch_size)
        return self.generate(mu, batch_size=batch_size)

    def repair(
        self, x: object, mask: object, *, steps: int = REPAIR_STEPS, batch_size: int | None = None
    ) -> np.ndarray:
        """Fill in missing values by iterating encode -> decode with the known values clamped.

        The missing values start from the decoding of the prior mean (z = 0); each round
        reconstructs the current guess and copies the reconstruction into the missing values
        only, so the known values come back exactly as given.

        Args:
            x: Damaged samples in data units, ``(n, *sample_shape)``; missing values may hold
                anything finite.
            mask: 1 (or True) where a value is known, 0 where it is missing; the same shape as
                ``x``, or one sample's shape to use for every sample.
            steps: Encode -> decode rounds.

        Returns:
            float32 samples shaped like ``x``, in data units.

        Raises:
            InputError: Shapes do not match, the mask is not 0/1, or ``steps`` is not positive.
        """
        data = self._check_data(x)
        known = _check_mask(mask, data.shape)
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise InputError(f"steps must be a positive integer, got {steps!r}")
        prior = self.generate(np.zeros((1, self.manifest.latent_dim), np.float32))
        guess = np.where(known, data, prior).astype(np.float32)
        for _ in range(int(steps)):
            guess = np.where(known, data, self.reconstruct(guess, batch_size=batch_size))
        return guess.astype(np.float32)

    # -- units and checks --------------------------------------------------------------------

    def to_model_units(self, x: np.ndarray) -> np.ndarray:
        """Data units -> the model's range (the training preprocessing), clipped to it."""
        p = self.manifest.preprocessing
        model = (x - np.float32(self._offset)) / np.float32(self._scale)
        out: np.ndarray = np.clip(model, p.model_min, p.model_max).astype(np.float32)
        return out

    def _check_data(self, x: object) -> np.ndarray:
        arr = np.asarray(x)
        shape = tuple(int(d) for d in self.manifest.sample_shape)
        if arr.dtype.kind not in "biuf":
            raise InputError(f"data must be numbers, got dtype {arr.dtype}")
        if arr.ndim != len(shape) + 1 or tuple(arr.shape[1:]) != shape:
            what = "images" if self.manifest.output_kind == "image" else "samples"
            raise InputError(
                f"this model encodes {what} shaped (n, {', '.join(map(str, shape))}), "
                f"got {arr.shape}"
            )
        if arr.shape[0] == 0:
            raise InputError("no samples to encode")
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise InputError("data contain NaN or Inf")
        return arr


def _check_mask(mask: object, shape: tuple[int, ...]) -> np.ndarray:
    m = np.asarray(mask)
    if m.shape == shape[1:]:
        m = np.broadcast_to(m, shape)
    if m.shape != shape:
        raise InputError(f"mask must be shaped {shape} or {shape[1:]}, got {m.shape}")
    if m.dtype.kind not in "biuf" or not np.isin(m, (0, 1)).all():
        raise InputError("mask must hold only 0 (missing) and 1 (known)")
    return m.astype(bool)


def load_samples(path: str | Path, manifest: Manifest) -> np.ndarray:
    """Samples to encode from a file: ``.npy`` ``(n, *sample_shape)`` in data units, or one
    ``.png`` image (as :func:`image_to_data`).

    Raises:
        InputError: The file is missing, unreadable, or of another kind.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".png":
        return image_to_data(read_image(path), manifest)
    if suffix != ".npy":
        raise InputError(f"cannot read samples from {path.name}: use a .npy array or a .png image")
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except (OSError, ValueError, EOFError) as e:
        raise InputError(f"cannot read {path} as a NumPy array: {e}") from None
    return np.asarray(arr)


def _image_chw(img: np.ndarray, manifest: Manifest) -> np.ndarray:
    """A decoded PNG, uint8 ``(H, W)`` or ``(H, W, 3)``, as the model's ``(C, H, W)``."""
    if manifest.output_kind != "image":
        raise InputError(f"this {manifest.family} model does not work on images")
    c, h, w = (int(d) for d in manifest.sample_shape)
    arr = np.asarray(img)
    if arr.ndim == 3 and c == 1:
        arr = np.rint(arr.mean(axis=2)).astype(np.uint8)  # an RGB picture of a grey image
    chw = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    if chw.shape[1:] != (h, w):
        raise InputError(
            f"the image is {arr.shape[1]}x{arr.shape[0]} pixels but this model works on "
            f"{w}x{h} images"
        )
    return np.broadcast_to(chw, (c, h, w))


def image_to_data(img: np.ndarray, manifest: Manifest) -> np.ndarray:
    """A decoded PNG (uint8 ``(H, W)`` or ``(H, W, 3)``) as one sample ``(1, C, H, W)`` in the
    model's data units: the inverse of the mapping the PNG writers use.

    Raises:
        InputError: The model does not make images, or the image's size differs.
    """
    lo, hi = manifest.value_range
    chw = _image_chw(img, manifest).astype(np.float32)
    data: np.ndarray = (lo + chw * np.float32((hi - lo) / 255.0))[None]
    return data


def image_to_mask(img: np.ndarray, manifest: Manifest) -> np.ndarray:
    """A mask PNG as one sample's mask ``(C, H, W)``: light pixels (>= 128) are known (1), dark
    ones missing (0).

    Raises:
        InputError: The model does not make images, or the mask's size differs.
    """
    return (_image_chw(img, manifest) >= 128).astype(np.uint8)


def data_to_image(x: np.ndarray, manifest: Manifest) -> np.ndarray:
    """One sample ``(C, H, W)`` in data units as a uint8 ``(H, W)`` or ``(H, W, 3)`` image."""
    img = to_uint8(x, manifest.value_range)
    out: np.ndarray = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
    return out


def comparison_png(x: np.ndarray, rec: np.ndarray, manifest: Manifest, ncols: int = 8) -> bytes:
    """PNG of images and their reconstructions: each row of originals above its row of
    reconstructions (both in data units, shaped ``(n, C, H, W)``)."""
    ncols = max(1, min(ncols, len(x)))
    tiles = []
    for start in range(0, len(x), ncols):
        for part in (x, rec):
            row = np.asarray(part[start : start + ncols], np.float32)
            blank = np.full((ncols - len(row), *row.shape[1:]), manifest.value_range[0], np.float32)
            tiles += [row, blank]
    return render_png(np.concatenate(tiles), manifest, ncols=ncols)
