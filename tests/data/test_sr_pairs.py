"""SR training pairs: built-in photos, HR folders, seeded and resumable crops, and errors for bad folders."""

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import sr_pairs
from ganforge.data.dataset import DatasetError
from ganforge.data.degradation import DegradationConfig, bicubic_downsample, usm_sharpen
from ganforge.data.sr_pairs import SRPairSampler, builtin_photos, load_hr_images
from ganforge.errors import UserError


def write_photos(folder, sizes, seed=0):
    """Random-texture PNGs of the given (width, height) sizes; the last one grey."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, (w, h) in enumerate(sizes):
        arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        img = Image.fromarray(arr).convert("L") if i == len(sizes) - 1 else Image.fromarray(arr)
        img.save(folder / f"img{i}.png")
    return folder


@pytest.fixture
def folder(tmp_path):
    return write_photos(tmp_path / "hr", [(40, 36), (64, 50), (33, 48)])


def contains(image: torch.Tensor, patch: torch.Tensor) -> bool:
    """Whether patch (or its mirror) is a crop of image."""
    c = patch.shape[-1]
    windows = image.unfold(1, c, 1).unfold(2, c, 1)  # [3, H - c + 1, W - c + 1, c, c]
    return any(bool((windows == p[:, None, None]).flatten(3).all(-1).all(0).any()) for p in (patch, patch.flip(-1)))


def test_builtin_photos_are_real_rgb_photographs():
    hr = builtin_photos()
    assert len(hr) == 3 and hr.name == "photos"
    assert [tuple(t.shape) for t in hr.images] == [(3, 427, 640), (3, 427, 640), (3, 600, 512)]
    assert all(t.dtype == torch.uint8 and t.float().std() > 20 for t in hr.images)
    assert hr.files[0].endswith("china.jpg") and hr.files[2].endswith("grace_hopper.jpg")
    assert load_hr_images("photos", crop=256).min_side == 427
    with pytest.raises(DatasetError, match="at most 427"):
        load_hr_images("photos", crop=512)


def test_missing_builtin_package_names_the_install(monkeypatch):
    monkeypatch.setattr(sr_pairs.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetError, match="pip install scikit-learn"):
        builtin_photos()


def test_folder_images_load_as_rgb_with_their_sizes(folder):
    hr = load_hr_images(folder, crop=32)
    assert hr.files == ["img0.png", "img1.png", "img2.png"]
    assert [tuple(t.shape) for t in hr.images] == [(3, 36, 40), (3, 50, 64), (3, 48, 33)]
    assert torch.equal(hr.images[2][0], hr.images[2][1])  # the grey image became three equal channels
    assert hr.min_side == 33


@pytest.mark.parametrize("scale", [2, 4])
def test_pairs_have_the_right_shapes_and_real_crops(folder, scale):
    hr_images = load_hr_images(folder, crop=32)
    sampler = SRPairSampler(hr_images, crop=32, scale=scale, batch_size=3, seed=1)
    lr, hr = sampler.next()
    assert lr.shape == (3, 3, 32 // scale, 32 // scale) and hr.shape == (3, 3, 32, 32)
    assert lr.min() >= 0 and lr.max() <= 1 and hr.min() >= 0 and hr.max() <= 1
    for patch in (hr * 255).round().to(torch.uint8):
        assert any(contains(img, patch) for img in hr_images.images)


def test_bicubic_pairs(folder):
    sampler = SRPairSampler(load_hr_images(folder), crop=32, scale=4, batch_size=2,
                            degradation=DegradationConfig(mode="bicubic"))
    lr, hr = sampler.next()
    assert torch.equal(lr, bicubic_downsample(hr, 4))


def test_usm_pairs_degrade_the_sharpened_crop_and_return_the_plain_one(folder):
    def sampler(usm):
        return SRPairSampler(load_hr_images(folder), crop=32, scale=4, batch_size=2, usm=usm,
                             degradation=DegradationConfig(mode="bicubic"))

    (lr, hr), (plain_lr, plain_hr) = sampler(True).next(), sampler(False).next()
    assert torch.equal(hr, plain_hr)  # same crops; the HR returned stays plain (the losses sharpen it themselves)
    assert torch.equal(lr, bicubic_downsample(usm_sharpen(hr), 4)) and not torch.equal(lr, plain_lr)


def test_seeded_and_resumable(folder):
    hr = load_hr_images(folder)

    def sampler(seed=0, rank=0):
        return SRPairSampler(hr, crop=16, scale=4, batch_size=2, seed=seed, rank=rank, world_size=2)

    a, b = sampler(), sampler()
    first = [a.next() for _ in range(3)]
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(first, [b.next() for _ in range(3)]))
    state = a.state_dict()
    assert state == {"seed": 0, "step": 3}
    expected = a.next()
    resumed = sampler()
    resumed.load_state_dict(state)
    got = resumed.next()
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
    assert not torch.equal(sampler(seed=1).next()[1], first[0][1])
    assert not torch.equal(sampler(rank=1).next()[1], first[0][1])  # ranks draw different crops


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match=r"no such folder.*photos"):
        load_hr_images(tmp_path / "nope")


def test_folder_without_images(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no photos here")
    with pytest.raises(DatasetError, match="no images found"):
        load_hr_images(tmp_path / "empty")


def test_images_smaller_than_the_crop(folder):
    with pytest.raises(DatasetError, match=r"2 of 3 images smaller than the 40x40 HR crop, e\.g\. img0\.png "
                                           r"\(40x36\); use a smaller crop \(at most 50"):
        load_hr_images(folder, crop=40)
    kept = load_hr_images(folder, crop=40, skip_small=True)
    assert kept.files == ["img1.png"]
    with pytest.raises(DatasetError, match="every image smaller than the 64x64"):
        load_hr_images(folder, crop=64, skip_small=True)


def test_sizes_are_checked_before_decoding(folder, monkeypatch):
    def no_decode(*args):
        raise AssertionError("decoded before the size checks")

    monkeypatch.setattr(sr_pairs, "decode_image", no_decode)
    with pytest.raises(DatasetError, match="smaller than"):
        load_hr_images(folder, crop=40)
    monkeypatch.setenv("GANFORGE_MAX_DATASET_BYTES", "1000")
    with pytest.raises(DatasetError, match="GANFORGE_MAX_DATASET_BYTES"):
        load_hr_images(folder, crop=16)


def test_unreadable_image_and_single_file(folder):
    (folder / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(DatasetError, match=r"broken\.png: cannot decode"):
        load_hr_images(folder)
    with pytest.raises(DatasetError, match="single image"):
        load_hr_images(folder / "img0.png")


def test_bad_sampler_settings(folder):
    hr = load_hr_images(folder)
    with pytest.raises(DatasetError, match="not a multiple of the scale 4; use 28"):
        SRPairSampler(hr, crop=30, scale=4)
    with pytest.raises(DatasetError, match=r"img2\.png is 33x48, smaller than the 36x36"):
        SRPairSampler(hr, crop=36, scale=4)
    with pytest.raises(DatasetError, match="batch_size"):
        SRPairSampler(hr, crop=16, scale=4, batch_size=0)
    assert issubclass(DatasetError, UserError)  # the CLI prints these as one line and exits 2
