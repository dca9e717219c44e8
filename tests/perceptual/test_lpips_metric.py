"""ganforge's LPIPS equals the official `lpips` package on the same weights and behaves like LPIPS on photos."""

from __future__ import annotations

import warnings
from types import SimpleNamespace
from unittest import mock

import pytest
import torch
import torch.nn.functional as F

from ganforge.perceptual.lpips_metric import _SLICES, LPIPS
from ganforge.perceptual.weights import load_backbone_state_dict


def _blur(x: torch.Tensor, k: int = 5) -> torch.Tensor:
    return F.avg_pool2d(F.pad(x, (k // 2,) * 4, mode="reflect"), k, stride=1)


@pytest.fixture(scope="module")
def lpips_vgg(real_weights) -> LPIPS:
    return LPIPS("vgg16", real_weights["vgg16"])


@pytest.fixture(scope="module")
def lpips_alex(real_weights) -> LPIPS:
    return LPIPS("alexnet", real_weights["alexnet"])


def _official(net: str, weights) -> torch.nn.Module:
    """lpips.LPIPS with its own linear weights and our ImageNet trunk loaded into its random trunk."""
    import lpips
    import torchvision
    from torchvision.models.vgg import cfgs, make_layers

    # torchvision's vgg16() would also build (and randomly initialise) a 120M-parameter classifier that lpips
    # discards; hand lpips the very same `features` factory torchvision uses, without the classifier.
    tv = SimpleNamespace(vgg16=lambda **_kw: SimpleNamespace(features=make_layers(cfgs["D"])),
                         alexnet=lambda **_kw: torchvision.models.alexnet(weights=None))
    with warnings.catch_warnings(), mock.patch.object(lpips.pretrained_networks, "tv", tv):
        warnings.simplefilter("ignore")
        ref = lpips.LPIPS(net={"vgg16": "vgg", "alexnet": "alex"}[net], pretrained=True, pnet_rand=True,
                          verbose=False)
    state = load_backbone_state_dict(net, weights)
    mapped = {f"slice{s + 1}.{i}.{p}": state[f"{i}.{p}"] for s, (a, b) in enumerate(_SLICES[net])
              for i in range(a, b) for p in ("weight", "bias") if f"{i}.{p}" in state}
    ref.net.load_state_dict(mapped, strict=True)
    return ref.eval()


@pytest.mark.parametrize("net", ["vgg16", "alexnet"])
def test_matches_official_lpips_package(net, real_weights, natural_images, request):
    ours = request.getfixturevalue("lpips_vgg" if net == "vgg16" else "lpips_alex")
    ref = _official(net, real_weights[net])
    x = natural_images
    noisy = (x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    pairs = [(x, _blur(x)), (noisy, x.flip(0))]
    with torch.no_grad():
        for a, b in pairs:
            expected = ref(a, b).flatten()
            got = ours(a, b)
            assert got.shape == (2,)
            torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
            assert float(expected.min()) > 0.02  # the pairs really differ: not a trivial 0 == 0 match


def test_photo_distances_have_lpips_magnitudes(lpips_vgg, lpips_alex, natural_images):
    x = natural_images
    with torch.no_grad():
        vgg_blur = lpips_vgg(x, _blur(x))
        assert torch.all((vgg_blur > 0.2) & (vgg_blur < 0.4)), vgg_blur  # the usual range for a 5x5 blur
        assert torch.all(lpips_alex(x, _blur(x)) > 0.15)
        assert lpips_vgg(x, x).abs().max() == 0
        assert lpips_alex(x, x).abs().max() == 0
        # different photos are further apart than a photo and its blur
        assert float(lpips_vgg(x, x.flip(0)).min()) > float(vgg_blur.max())
        # a random-weight trunk with the same linear layers gives clearly different (near-zero) numbers
        random_trunk = LPIPS("vgg16", pretrained_trunk=False)(x, _blur(x))
        assert float(random_trunk.max()) < 0.3 * float(vgg_blur.min())


def test_grey_images_equal_repeated_rgb_and_gradients_flow(lpips_alex, natural_images):
    grey = natural_images.mean(dim=1, keepdim=True)
    other = _blur(grey)
    d_grey = lpips_alex(grey, other)
    d_rgb = lpips_alex(grey.repeat(1, 3, 1, 1), other.repeat(1, 3, 1, 1))
    torch.testing.assert_close(d_grey, d_rgb)
    x = grey.clone().requires_grad_(True)
    lpips_alex(x, other).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in lpips_alex.parameters())


def test_split_taps_equal_batched_forward(lpips_alex, natural_images):
    x, y = natural_images, _blur(natural_images)
    with torch.no_grad():
        torch.testing.assert_close(lpips_alex.distance_from_taps(lpips_alex.taps(x), lpips_alex.taps(y)),
                                   lpips_alex(x, y), rtol=1e-5, atol=1e-6)
