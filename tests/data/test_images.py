import io
import json
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ganforge.data import DatasetError, load_dataset


def png_bytes(arr: np.ndarray, mode: str | None = None, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, fmt)
    return buf.getvalue()


def rgb(seed: int, size: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_folder_with_class_subfolders(tmp_path):
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            (tmp_path / cls / f"{i}.png").write_bytes(png_bytes(rgb(i)))
    ds = load_dataset(str(tmp_path))
    assert ds.images.shape == (6, 3, 8, 8) and ds.num_classes == 2
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert torch.equal(ds.images[0], torch.from_numpy(rgb(0)).permute(2, 0, 1))


def test_stylegan_zip_with_dataset_json(tmp_path):
    path = tmp_path / "ds.zip"
    with zipfile.ZipFile(path, "w") as z:
        for i in range(4):
            z.writestr(f"00000/img{i:08d}.png", png_bytes(rgb(i)))
        z.writestr("dataset.json", json.dumps({"labels": [[f"00000/img{i:08d}.png", i % 2] for i in range(4)]}))
    ds = load_dataset(str(path))
    assert len(ds) == 4 and ds.labels.tolist() == [0, 1, 0, 1] and ds.num_classes == 2
    # the same images unzipped as a folder read identically
    folder = tmp_path / "unzipped"
    zipfile.ZipFile(path).extractall(folder)
    assert torch.equal(load_dataset(str(folder)).images, ds.images)


def test_mode_conversions(tmp_path):
    grey = np.full((8, 8), 100, np.uint8)
    (tmp_path / "a_grey.png").write_bytes(png_bytes(grey))
    cmyk = Image.new("CMYK", (8, 8), (0, 0, 0, 0))  # CMYK white
    buf = io.BytesIO()
    cmyk.save(buf, "JPEG")
    (tmp_path / "b_cmyk.jpg").write_bytes(buf.getvalue())
    sixteen = Image.fromarray(np.full((8, 8), 65535, np.uint16))
    buf = io.BytesIO()
    sixteen.save(buf, "PNG")
    (tmp_path / "c_16bit.png").write_bytes(buf.getvalue())
    pal = Image.fromarray(rgb(3)).convert("P")
    buf = io.BytesIO()
    pal.save(buf, "PNG")
    (tmp_path / "d_palette.png").write_bytes(buf.getvalue())
    rgba = np.zeros((8, 8, 4), np.uint8)  # fully transparent -> composited on white
    (tmp_path / "e_alpha.png").write_bytes(png_bytes(rgba, "RGBA"))
    ds = load_dataset(str(tmp_path))
    assert ds.images.shape == (5, 3, 8, 8)
    assert (ds.images[0] == 100).all()  # grey replicated to RGB
    assert ds.images[1].min() > 240  # CMYK white stays white
    assert (ds.images[2] == 255).all()  # 16-bit full scale -> 255
    assert (ds.images[4] == 255).all()


@pytest.mark.parametrize("content,match", [(b"", "zero-byte"), (b"not an image at all", "cannot decode"),
                                           (None, "cannot decode")])
def test_bad_images_fail_fast_with_path(tmp_path, content, match):
    (tmp_path / "good.png").write_bytes(png_bytes(rgb(0)))
    bad = content if content is not None else png_bytes(rgb(1))[:40]  # truncated PNG
    (tmp_path / "bad.png").write_bytes(bad)
    with pytest.raises(DatasetError, match=match) as e:
        load_dataset(str(tmp_path))
    assert "bad.png" in str(e.value)
    ds = load_dataset(str(tmp_path), skip_bad=True)
    assert len(ds) == 1 and ds.skipped == ["bad.png"]


def test_mixed_sizes_and_resize(tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes(rgb(0, 8)))
    (tmp_path / "b.png").write_bytes(png_bytes(rgb(1, 16)))
    with pytest.raises(DatasetError, match=r"mixed sizes.*--resolution"):
        load_dataset(str(tmp_path))
    assert load_dataset(str(tmp_path), resolution=8).images.shape == (2, 3, 8, 8)


def test_empty_and_missing(tmp_path):
    with pytest.raises(DatasetError, match="no images found"):
        load_dataset(str(tmp_path))
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(str(tmp_path / "nope"))


@pytest.mark.parametrize("labels,match", [
    ({"labels": [["missing.png", 0], ["a.png", 0]]}, "not in the dataset"),
    ({"labels": [["a.png", "cat"]]}, "malformed"),
    ({"labels": [["a.png", -1]]}, "negative"),
    ({"labels": {"a.png": 0}}, "must be a list"),
])
def test_bad_dataset_json(tmp_path, labels, match):
    (tmp_path / "a.png").write_bytes(png_bytes(rgb(0)))
    (tmp_path / "dataset.json").write_text(json.dumps(labels))
    with pytest.raises(DatasetError, match=match):
        load_dataset(str(tmp_path))


def test_unlabelled_dataset_json_and_invalid_json(tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes(rgb(0)))
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": None}))
    assert load_dataset(str(tmp_path)).labels is None
    (tmp_path / "dataset.json").write_text("{oops")
    with pytest.raises(DatasetError, match="not valid JSON"):
        load_dataset(str(tmp_path))


@pytest.mark.parametrize("member", ["../evil.png", "/abs/evil.png"])
def test_zip_rejects_unsafe_members(tmp_path, member):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ok.png", png_bytes(rgb(0)))
        z.writestr(member, png_bytes(rgb(1)))
    with pytest.raises(DatasetError, match="unsafe member"):
        load_dataset(str(path))


def test_zip_size_cap(tmp_path, monkeypatch):
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.png", png_bytes(rgb(0)))
        z.writestr("pad.bin", b"\0" * 10_000)
    monkeypatch.setenv("GANFORGE_MAX_ZIP_BYTES", "5000")
    with pytest.raises(DatasetError, match="GANFORGE_MAX_ZIP_BYTES"):
        load_dataset(str(path))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=300), name=st.sampled_from(["x.png", "x.jpg", "x.gif"]))
def test_reader_on_arbitrary_bytes(tmp_path, blob, name):
    """Arbitrary file content either loads as images or fails with a DatasetError naming the file."""
    for p in tmp_path.iterdir():
        p.unlink()
    (tmp_path / name).write_bytes(blob)
    try:
        ds = load_dataset(str(tmp_path))
    except DatasetError as e:
        assert name in str(e) or "square" in str(e) or "channels" in str(e)
    else:
        assert ds.images.dtype == torch.uint8 and len(ds) == 1
