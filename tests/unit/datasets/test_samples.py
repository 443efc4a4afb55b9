"""Samples made elsewhere, read into the dataset's layout: every accepted form gives the same
uint8 images, and every bad form is one message naming the file."""

import numpy as np
import pytest
from PIL import Image

from harness.datasets.samples import SamplesError, read_samples

SHAPE = (1, 28, 28)


@pytest.fixture
def levels():
    return np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)


def test_every_layout_and_range_reads_to_the_same_grey_levels(tmp_path, levels):
    forms = {
        "nhw_uint8.npz": levels,
        "nhwc_unit.npy": (levels / 255.0).astype(np.float32)[..., None],
        "nchw_255.npy": levels.astype(np.float64)[:, None],
        "tanh.npy": (levels / 127.5 - 1).astype(np.float32),
    }
    for name, array in forms.items():
        (np.savez if name.endswith(".npz") else np.save)(tmp_path / name, array)
    read = {name: read_samples(tmp_path / name, SHAPE, "-1,1" if name == "tanh.npy" else None) for name in forms}
    for name, samples in read.items():
        assert samples.images.dtype == np.uint8 and samples.images.shape == (20, 1, 28, 28), name
        np.testing.assert_array_equal(samples.images[:, 0], levels, err_msg=name)
    assert (read["nhw_uint8.npz"].layout, read["nhwc_unit.npy"].layout, read["nchw_255.npy"].layout) == \
        ("NHW", "NHWC", "NCHW")
    assert read["nhwc_unit.npy"].value_range == "0,1" and read["nhwc_unit.npy"].range_source == "inferred"
    assert read["nchw_255.npy"].value_range == "0,255" and read["tanh.npy"].range_source == "stated"
    assert len({s.sha256 for s in read.values()}) == 4  # the identity is the files


def test_a_folder_of_pngs_reads_as_the_array_it_was_written_from(tmp_path, levels):
    for index, image in enumerate(levels):
        Image.fromarray(image).save(tmp_path / f"{index:03d}.png")
    samples = read_samples(tmp_path, SHAPE)
    np.testing.assert_array_equal(samples.images[:, 0], levels)
    assert samples.layout == "image files"


@pytest.mark.parametrize("array, message", [
    (np.full((5, 28, 28), np.nan, np.float32), "5 image(s) hold NaN or infinite values"),
    (np.zeros((5, 32, 32), np.uint8), "shape (5, 32, 32) is not a stack of the dataset's images"),
    (np.zeros((5, 3, 28, 28), np.uint8), "shape (5, 3, 28, 28)"),
    (np.full((5, 28, 28), -3.0), "values span [-3, -3], neither [0, 1] nor [0, 255]"),
    (np.full((5, 28, 28), 300.0), "neither [0, 1] nor [0, 255]"),
    (np.array(["a"] * 5), "holds <U1 values"),
])
def test_bad_arrays_are_one_line_naming_the_file(tmp_path, array, message):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(SamplesError) as caught:
        read_samples(path, SHAPE)
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_files_and_folders_name_what_to_do(tmp_path, levels):
    (tmp_path / "notes.txt").write_text("not images")
    with pytest.raises(SamplesError, match="expected an .npz or .npy array"):
        read_samples(tmp_path / "notes.txt", SHAPE)
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(SamplesError, match="cannot be read as a numpy array"):
        read_samples(tmp_path / "broken.npy", SHAPE)
    np.savez(tmp_path / "two.npz", a=levels, b=levels)
    with pytest.raises(SamplesError, match="holds arrays a, b"):
        read_samples(tmp_path / "two.npz", SHAPE)
    np.save(tmp_path / "big.npy", levels.astype(np.float32))
    with pytest.raises(SamplesError, match="outside the stated --range 0,1"):
        read_samples(tmp_path / "big.npy", SHAPE, "0,1")
    folder = tmp_path / "pngs"
    folder.mkdir()
    Image.fromarray(np.stack([levels[0], levels[1], levels[2]], -1)).save(folder / "colour.png")
    with pytest.raises(SamplesError, match="a colour image, and the dataset's images are grey"):
        read_samples(folder, SHAPE)
    (folder / "colour.png").write_bytes(b"not a png")
    with pytest.raises(SamplesError, match="cannot be read as an image"):
        read_samples(folder, SHAPE)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SamplesError, match="no PNG or JPEG images"):
        read_samples(tmp_path / "empty", SHAPE)
