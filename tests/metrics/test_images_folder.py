"""`evaluate --fake DIR`: the folder reader checks sizes before decoding and decodes like ganforge.data."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ganforge.cli.main import main
from ganforge.data import DatasetError
from ganforge.metrics import images as metrics_images
from ganforge.metrics.images import load_image_set, read_image_folder


def rgb_folder(path, n: int = 3, size: tuple[int, int] = (24, 24)):
    path.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", size, (10 * i, 20, 30)).save(path / f"{i}.png")
    return path


def test_non_power_of_two_folder_is_read_as_is(tmp_path):
    images = load_image_set(rgb_folder(tmp_path / "f", size=(24, 20)))
    assert images.shape == (3, 3, 20, 24) and images[2, 0, 0, 0] == 20 and images[0, 2, 5, 5] == 30


def test_16_bit_images_scale_by_bit_depth_not_content(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    dark = np.arange(24 * 24, dtype=np.uint16).reshape(24, 24) % 200  # 0..199 of 65535: nearly black
    Image.fromarray(dark).save(folder / "dark.png")
    bright = np.full((24, 24), 65535, dtype=np.uint16)
    Image.fromarray(bright).save(folder / "bright.png")
    images = read_image_folder(folder)
    assert images.shape == (2, 1, 24, 24)
    assert int(images[1].max()) <= 1 and int(images[0].min()) == 255  # sorted: bright.png, dark.png


def test_grey_and_colour_mixed_become_rgb(tmp_path):
    folder = rgb_folder(tmp_path / "f", n=1)
    Image.new("L", (24, 24), 77).save(folder / "grey.png")
    Image.new("RGBA", (24, 24), (0, 0, 0, 0)).save(folder / "clear.png")  # transparent: alpha over white
    images = read_image_folder(folder)  # sorted: 0.png, clear.png, grey.png
    assert images.shape == (3, 3, 24, 24)
    assert images[1].unique().tolist() == [255] and images[2].unique().tolist() == [77]


@pytest.mark.parametrize("problem, expected", [
    ("mixed sizes", "mixed sizes"),
    ("empty", "no images found"),
    ("corrupt", "bad.png: cannot decode image"),
    ("zero bytes", "bad.png: zero-byte file"),
    ("bomb", "GANFORGE_MAX_IMAGE_PIXELS"),
    ("too many", "GANFORGE_MAX_DATASET_BYTES"),
])
def test_each_problem_is_one_clear_error_before_decoding(tmp_path, monkeypatch, problem, expected):
    folder = rgb_folder(tmp_path / "f", n=0 if problem == "empty" else 3)
    if problem == "mixed sizes":
        Image.new("RGB", (32, 24)).save(folder / "other.png")
    elif problem == "corrupt":
        (folder / "bad.png").write_bytes(b"\x89PNG not really")
    elif problem == "zero bytes":
        (folder / "bad.png").write_bytes(b"")
    elif problem == "bomb":
        monkeypatch.setenv("GANFORGE_MAX_IMAGE_PIXELS", "500")  # 24 x 24 = 576 pixels
    elif problem == "too many":
        monkeypatch.setenv("GANFORGE_MAX_DATASET_BYTES", "5000")  # 3 x 3 x 24 x 24 = 5184 bytes

    def never(*args, **kwargs):
        raise AssertionError("decoded before the headers were checked")

    if problem not in ("corrupt", "zero bytes"):
        monkeypatch.setattr(metrics_images, "decode_image", never)
    with pytest.raises(DatasetError, match=expected):
        read_image_folder(folder)


def test_evaluate_with_a_bad_fake_folder_is_one_line(tmp_path, capsys):
    real = rgb_folder(tmp_path / "real")
    (tmp_path / "empty").mkdir()
    bad = rgb_folder(tmp_path / "bad")
    (bad / "x.jpg").write_bytes(b"garbage")
    for fake, expected in ((tmp_path / "empty", "no images found"), (bad, "x.jpg: cannot decode image"),
                           (tmp_path / "missing", "no such file or folder")):
        assert main(["evaluate", "--real", str(real), "--fake", str(fake), "--features", "inception-random"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("ganforge evaluate: error:") and expected in err and len(err.splitlines()) == 1, err
