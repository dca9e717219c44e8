"""Data input that used to end in a traceback or in silent wrong values: bit depth, single files, damaged zips,
and sizes that are checked from the headers before anything is decoded."""

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

import ganforge.data.images as images
from ganforge.data import DatasetError, load_dataset


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def test_16_bit_images_are_scaled_by_bit_depth_not_content(tmp_path):
    dark = np.full((8, 8), 199, np.uint16)  # a dark 16-bit image: every value <= 255
    bright = np.full((8, 8), 51400, np.uint16)
    (tmp_path / "a.png").write_bytes(png(dark))
    (tmp_path / "b.png").write_bytes(png(bright))
    ds = load_dataset(str(tmp_path))
    assert Image.open(tmp_path / "a.png").mode.startswith("I")
    assert int(ds.images[0].max()) == round(199 / 257) == 1  # not 199
    assert int(ds.images[1].max()) == round(51400 / 257)


def test_single_image_and_damaged_zip_are_one_line_errors(tmp_path):
    (tmp_path / "one.png").write_bytes(png(np.zeros((8, 8), np.uint8)))
    with pytest.raises(DatasetError, match=r"single image.*folder"):
        load_dataset(str(tmp_path / "one.png"))
    good = tmp_path / "d.zip"
    with zipfile.ZipFile(good, "w") as z:
        for i in range(3):
            z.writestr(f"{i}.png", png(np.full((8, 8), i, np.uint8)))
    (tmp_path / "cut.zip").write_bytes(good.read_bytes()[:200])
    with pytest.raises(DatasetError, match=r"cut.zip: not a readable zip"):
        load_dataset(str(tmp_path / "cut.zip"))


def test_corrupt_zip_member_names_the_member(tmp_path):
    path = tmp_path / "d.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.png", png(np.zeros((8, 8), np.uint8)) + b"\0" * 500)
    data = bytearray(path.read_bytes())
    start = data.index(b"a.png") + 5 + 10  # inside the compressed stream of the only member
    data[start:start + 20] = b"\xff" * 20
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=r"a.png"):
        load_dataset(str(path))


@pytest.fixture
def no_decoding(monkeypatch):
    def fail(*args):
        raise AssertionError("pixels were decoded before the sizes were checked")

    monkeypatch.setattr(images, "decode_image", fail)


def test_sizes_and_shapes_are_checked_before_decoding(tmp_path, no_decoding):
    (tmp_path / "a.png").write_bytes(png(np.zeros((8, 8, 3), np.uint8)))
    (tmp_path / "b.png").write_bytes(png(np.zeros((16, 16, 3), np.uint8)))
    with pytest.raises(DatasetError, match=r"mixed sizes.*--resolution"):
        load_dataset(str(tmp_path))
    (tmp_path / "b.png").write_bytes(png(np.zeros((6, 8, 3), np.uint8)))
    (tmp_path / "a.png").unlink()
    with pytest.raises(DatasetError, match=r"8x6.*power-of-two.*--resolution"):
        load_dataset(str(tmp_path))


def test_memory_limits_apply_before_decoding_and_are_overridable(tmp_path, no_decoding, monkeypatch):
    for i in range(4):
        (tmp_path / f"{i}.png").write_bytes(png(np.zeros((16, 16, 3), np.uint8)))
    monkeypatch.setenv("GANFORGE_MAX_DATASET_BYTES", str(4 * 16 * 16 * 3 - 1))
    with pytest.raises(DatasetError, match=r"GANFORGE_MAX_DATASET_BYTES"):
        load_dataset(str(tmp_path))
    monkeypatch.delenv("GANFORGE_MAX_DATASET_BYTES")
    monkeypatch.setenv("GANFORGE_MAX_IMAGE_PIXELS", "255")  # a 16x16 image now counts as a decompression bomb
    with pytest.raises(DatasetError, match=r"16x16 pixels.*GANFORGE_MAX_IMAGE_PIXELS"):
        load_dataset(str(tmp_path))


def test_pillow_decompression_bomb_is_a_dataset_error(tmp_path, monkeypatch):
    (tmp_path / "a.png").write_bytes(png(np.zeros((64, 64), np.uint8)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow's own check fires at 2x its limit
    with pytest.raises(DatasetError, match=r"a.png.*GANFORGE_MAX_IMAGE_PIXELS"):
        load_dataset(str(tmp_path))


def test_huge_label_fails_before_anything_is_sized_by_it(tmp_path):
    for i in range(2):
        (tmp_path / f"{i}.png").write_bytes(png(np.zeros((8, 8), np.uint8)))
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": [["0.png", 0], ["1.png", 10**12]]}))
    with pytest.raises(DatasetError, match=r"labels go up to 1000000000000.*GANFORGE_MAX_CLASSES"):
        load_dataset(str(tmp_path))
