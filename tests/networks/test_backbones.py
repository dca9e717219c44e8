"""Discriminator-backbone registry: frozen weights, gradients to the input, taps, input conventions, weight errors."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from ganforge.compress.dino import VisionTransformer
from ganforge.networks.backbones import (
    VGG16_TAPS,
    ModuleBackbone,
    SequentialBackbone,
    available_backbones,
    build_feature_backbone,
    freeze_module,
    register_backbone,
)
from ganforge.networks.vit_backbones import ClipVisual, ViTBackbone, clip_backbone, load_clip_visual
from ganforge.perceptual.features import IMAGENET_MEAN, IMAGENET_STD, make_trunk
from ganforge.perceptual.weights import WeightsNotFoundError


def tiny_vgg(weights: str | None = None) -> nn.Sequential:
    """A VGG-like trunk, the same weights on every call (as a pretrained file would give)."""
    with torch.random.fork_rng():
        torch.manual_seed(1)
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                             nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2))


@pytest.fixture(autouse=True)
def _tiny_backbone():
    register_backbone("test-tinyvgg", tiny_vgg, overwrite=True)


def test_frozen_weights_get_no_grad_but_the_input_does():
    bb = build_feature_backbone("test-tinyvgg")
    assert bb.default_layers == ("1", "4")  # the last layer before each pooling
    assert list(bb.parameters()) == []  # weights are buffers: nothing for an optimiser or requires_grad_(True)
    bb.requires_grad_(True).train()
    assert not bb.training and not bb.net.training
    assert all(not b.requires_grad for b in bb.buffers())
    x = torch.rand(2, 1, 32, 32, requires_grad=True)
    feats = bb(x * 2 - 1)
    assert [tuple(f.shape) for f in feats] == [(2, 8, 32, 32), (2, 16, 16, 16)]
    sum(f.square().mean() for f in feats).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(b.grad is None for b in bb.buffers())
    assert "test-tinyvgg" in available_backbones()
    assert bb.state_dict() == {}  # checkpoints never copy the frozen weights


def test_vgg16_taps_follow_torchvision_indices_and_imagenet_convention():
    bb = SequentialBackbone("vgg16", make_trunk("vgg16"), 32, IMAGENET_MEAN, IMAGENET_STD, VGG16_TAPS)
    feats = bb(torch.zeros(1, 3, 64, 64), ["relu2_2", "relu3_3", "relu5_3", "0"])
    assert [tuple(f.shape[1:]) for f in feats] == [(128, 16, 16), (256, 8, 8), (512, 2, 2), (64, 32, 32)]
    gray = bb.preprocess(torch.zeros(1, 1, 64, 64))  # [-1, 1] mid-grey, resized to 32 and ImageNet-normalised
    assert gray.shape == (1, 3, 32, 32)
    expected = (0.5 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(gray[0, :, 0, 0], expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"no layer 'relu9'.*relu1_2"):
        bb(torch.zeros(1, 3, 32, 32), ["relu9"])


def test_any_module_returning_maps_can_be_registered():
    class TwoScales(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)

        def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
            y = self.conv(x)
            return [y, y.mean(dim=(2, 3), keepdim=True)]

    register_backbone("test-twoscales", lambda weights: TwoScales(), size=16, overwrite=True)
    bb = build_feature_backbone("test-twoscales")
    assert isinstance(bb, ModuleBackbone)
    assert [tuple(f.shape) for f in bb(torch.zeros(2, 3, 32, 32))] == [(2, 4, 8, 8), (2, 4, 1, 1)]
    assert [tuple(f.shape) for f in bb(torch.zeros(2, 3, 32, 32), ["1"])] == [(2, 4, 1, 1)]
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("test-twoscales", lambda weights: TwoScales())
    with pytest.raises(ValueError, match=r"unknown backbone 'nope'.*register_backbone"):
        build_feature_backbone("nope")


def test_missing_dino_and_clip_weights_say_what_to_get_and_where(tmp_path, monkeypatch):
    for var in ("GANFORGE_CACHE", "GANFORGE_WEIGHTS_DIR", "TORCH_HOME", "HOME"):
        monkeypatch.setenv(var, str(tmp_path))
    for var in ("GANFORGE_DINO_WEIGHTS", "GANFORGE_CLIP_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(WeightsNotFoundError, match=r"(?s)dino.*dino_deitsmall16_pretrain\.pth.*d_aux entry's"):
        build_feature_backbone("dino")
    with pytest.raises(WeightsNotFoundError, match=r"(?s)clip.*ViT-B-32\.pt.*open_clip_pytorch_model\.bin.*weights"):
        build_feature_backbone("clip")
    with pytest.raises(WeightsNotFoundError, match="no CLIP"):
        build_feature_backbone("clip", weights=str(tmp_path / "missing.pt"))


def test_clip_tower_loads_a_checkpoint_with_visual_prefix_and_taps_patch_grids(tmp_path):
    tower = ClipVisual(width=64, layers=3, patch=8, grid=4, output_dim=16)
    state = {f"visual.{k}": v.contiguous() for k, v in tower.state_dict().items()}
    state["text_projection"] = torch.zeros(4, 4)  # the text tower's keys are ignored
    save_file(state, str(tmp_path / "clip_vit_b32.safetensors"))
    loaded = load_clip_visual(tmp_path)  # a directory holding one of the known file names
    assert loaded.width == 64 and len(loaded.blocks) == 3 and loaded.patch == 8
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(loaded(x), tower(x), atol=1e-5)
    bb = clip_backbone(tmp_path / "clip_vit_b32.safetensors")
    bb.size = 32
    assert bb.default_layers == ("block0", "block1", "block2")
    img = torch.rand(2, 3, 48, 48, requires_grad=True)
    (grid,) = bb(img, ["block2"])
    assert grid.shape == (2, 64, 4, 4)
    grid.sum().backward()
    assert img.grad.abs().sum() > 0 and list(bb.parameters()) == []


def test_dino_vit_taps_patch_grids_and_keeps_its_embedding():
    vit = VisionTransformer(patch=8, dim=32, depth=3, heads=2)
    x = torch.rand(2, 3, 32, 32)
    cls = vit(x)
    bb = ViTBackbone("dino", vit, 3, 32, IMAGENET_MEAN, IMAGENET_STD)
    freeze_module(bb)
    assert torch.allclose(bb.net(x), cls, atol=1e-6)  # tokens() refactor keeps the CLS embedding
    feats = bb(torch.zeros(1, 1, 16, 16), ["block0", "block2"])
    assert [tuple(f.shape) for f in feats] == [(1, 32, 4, 4), (1, 32, 4, 4)]
    with pytest.raises(ValueError, match="no layer 'block3'"):
        bb(torch.zeros(1, 3, 32, 32), ["block3"])


def conv_output_dtypes(bb: SequentialBackbone) -> list[torch.dtype]:
    """Records the dtype each convolution of the trunk computes in, on every call."""
    seen: list[torch.dtype] = []
    for m in bb.net:
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    return seen


@pytest.mark.parametrize("native", [True, False])
def test_bf16_precision_runs_the_trunk_in_bf16_and_returns_fp32_maps(monkeypatch, native: bool):
    monkeypatch.setattr("ganforge.perceptual.lpips_metric.native_bf16", lambda device: native)
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    ref = build_feature_backbone("test-tinyvgg")(x)
    for precision, want in (("bf16", torch.bfloat16), ("auto", torch.bfloat16 if native else torch.float32)):
        bb = build_feature_backbone("test-tinyvgg", precision=precision)
        seen = conv_output_dtypes(bb)
        feats = bb(x)
        assert seen == [want, want] and all(f.dtype == torch.float32 for f in feats)
        for f, r in zip(feats, ref):
            assert torch.allclose(f, r, rtol=0.05, atol=0.02)
        seen.clear()
        exact = bb(x, precision="fp32")  # a per-call override, as the penalised steps use
        assert seen == [torch.float32] * 2 and all(torch.equal(f, r) for f, r in zip(exact, ref))
    with pytest.raises(ValueError, match="precision"):
        build_feature_backbone("test-tinyvgg", precision="fp16")
