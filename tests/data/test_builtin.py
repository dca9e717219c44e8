import gzip
import struct

import numpy as np
import pytest
import torch

from ganforge.data import DatasetError, load_dataset, to_float, to_uint8


def test_mnist5k():
    ds = load_dataset("mnist5k")
    assert ds.images.shape == (5000, 1, 32, 32) and ds.images.dtype == torch.uint8
    assert torch.bincount(ds.labels).tolist() == [500] * 10
    assert ds.images[:, :, :2].max() == 0  # the 2-px zero padding
    assert ds.images.float().mean() > 20  # real strokes, not blank


def test_stacked_mnist_deterministic_and_labelled():
    a, b = load_dataset("stacked-mnist", size=300, seed=1), load_dataset("stacked-mnist", size=300, seed=1)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert a.images.shape == (300, 3, 32, 32) and a.num_classes == 1000
    assert not torch.equal(a.images, load_dataset("stacked-mnist", size=300, seed=2).images)
    base = load_dataset("mnist5k")
    # each channel is one real mnist5k digit, and the label encodes the three digits
    for i in range(5):
        digits = []
        for ch in range(3):
            match = (base.images[:, 0] == a.images[i, ch]).flatten(1).all(1).nonzero()
            assert len(match) >= 1
            digits.append(int(base.labels[match[0, 0]]))
        assert a.labels[i] == digits[0] * 100 + digits[1] * 10 + digits[2]


def test_digits_and_value_conversions():
    ds = load_dataset("digits")
    assert ds.images.shape == (1797, 1, 32, 32) and ds.num_classes == 10
    x = to_float(ds.images[:4])
    assert x.min() >= -1 and x.max() <= 1
    assert torch.equal(to_uint8(x), ds.images[:4])


def _write_idx(path, array, gz=True):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def test_fashion_mnist_from_idx(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 256, (7, 28, 28))
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", imgs)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(7) % 10, gz=False)
    ds = load_dataset(f"fashion-mnist:{tmp_path}")
    assert ds.images.shape == (7, 1, 32, 32)
    assert torch.equal(ds.images[:, 0, 2:30, 2:30], torch.from_numpy(imgs.astype(np.uint8)))
    assert ds.labels.tolist() == [0, 1, 2, 3, 4, 5, 6]


def test_fashion_mnist_missing_says_how_to_get_it(tmp_path):
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", root=str(tmp_path))


def test_truncated_idx(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(struct.pack(">HBB", 0, 8, 3) + struct.pack(">3I", 5, 28, 28))
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(5), gz=False)
    with pytest.raises(DatasetError, match="truncated"):
        load_dataset("fashion-mnist", root=str(tmp_path))


def test_subset_and_xflip():
    ds = load_dataset("digits", max_images=100, xflip=True)
    assert len(ds) == 200
    assert torch.equal(ds.images[100:], ds.images[:100].flip(-1))


def test_unknown_builtin_name():
    with pytest.raises(DatasetError, match="not built in"):
        load_dataset("cifar10")
