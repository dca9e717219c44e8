"""ImageNet trunks and the globally pooled feature extractors built on them."""

from __future__ import annotations

import pytest
import torch

from ganforge.perceptual.features import build_backbone, make_trunk, pooled_features


def test_build_backbone_is_frozen_eval_and_pretrained(real_weights):
    trunk = build_backbone("alexnet", real_weights["alexnet"])
    assert not trunk.training and all(not p.requires_grad for p in trunk.parameters())
    random = make_trunk("alexnet")
    assert not torch.equal(trunk[0].weight, random[0].weight)
    out = trunk(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 256, 1, 1)


@pytest.mark.parametrize(("name", "dim"), [("vgg16", 512), ("alexnet", 256)])
def test_pooled_features_shapes_grey_and_similarity(name, dim, real_weights, natural_images):
    extractor = pooled_features(name, real_weights[name], size=64)
    assert extractor.dim == dim and not extractor.training
    x = natural_images
    with torch.no_grad():
        f = extractor(x)
        assert f.shape == (2, dim) and torch.isfinite(f).all()
        grey = x.mean(dim=1, keepdim=True)
        torch.testing.assert_close(extractor(grey), extractor(grey.repeat(1, 3, 1, 1)))
        small = extractor(torch.nn.functional.interpolate(x, size=(32, 32), mode="area"))  # upsampled to 64 inside
        # ImageNet features: a photo's down/up-sampled version stays closer to it than the other photo does
        assert torch.dist(small[0], f[0]) < torch.dist(f[1], f[0])
        assert torch.dist(small[1], f[1]) < torch.dist(f[0], f[1])


def test_native_size_below_minimum_is_refused(real_weights):
    extractor = pooled_features("alexnet", real_weights["alexnet"], size=None)
    with pytest.raises(ValueError, match="at least 63"):
        extractor(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="at least"):
        pooled_features("alexnet", real_weights["alexnet"], size=32)
