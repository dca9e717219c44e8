"""LPIPS trunk precision for L_SD: BF16 autocast only where native, and then close to FP32 in value and gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganforge.distill import SelfDistillConfig, SelfDistiller
from ganforge.perceptual.lpips_metric import LPIPS, native_bf16, resolve_precision
from ganforge.perceptual.weights import WeightsNotFoundError, find_backbone_weights
from ganforge.utils import perf


def _have_vgg() -> bool:
    try:
        find_backbone_weights("vgg16", allow_download=False)
    except WeightsNotFoundError:
        return False
    return True


def test_auto_picks_bf16_only_on_native_hardware(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(perf, "_onednn_bf16", lambda: True)
    monkeypatch.setattr(perf, "_cpu_flags", lambda: frozenset({"avx2", "fma"}))  # e.g. this CI machine
    assert not native_bf16(cpu) and resolve_precision("auto", cpu) == "fp32"
    monkeypatch.setattr(perf, "_cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16"}))  # Zen 4
    assert native_bf16(cpu) and resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(perf, "_onednn_bf16", lambda: False)  # oneDNN unavailable: never BF16
    assert resolve_precision("auto", cpu) == "fp32"
    assert resolve_precision("bf16", cpu) == "bf16" and resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("auto", torch.device("meta")) == "fp32"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp16", cpu)
    with pytest.raises(ValueError, match="lpips_precision"):
        SelfDistillConfig(lpips_precision="fp16")
    assert SelfDistillConfig().lpips_precision == "auto"


@pytest.mark.skipif(not _have_vgg(), reason="VGG16 ImageNet weights not imported (python -m "
                    "ganforge.perceptual.setup_weights)")
def test_bf16_trunk_keeps_the_loss_and_its_gradient():
    torch.manual_seed(0)
    _compare_fp32_bf16()


def _compare_fp32_bf16() -> None:
    G = nn.Sequential(nn.Linear(8, 3 * 32 * 32), nn.Tanh(), nn.Unflatten(1, (3, 32, 32)))
    G_ema = nn.Sequential(nn.Linear(8, 3 * 32 * 32), nn.Tanh(), nn.Unflatten(1, (3, 32, 32)))
    G_ema.load_state_dict(G.state_dict())
    with torch.no_grad():
        for p in G_ema.parameters():
            p.add_(0.05 * torch.randn_like(p))
    z = torch.randn(4, 8)
    lp = LPIPS("vgg16")
    out = {}
    for name in ("fp32", "bf16"):
        lp.precision = name
        sd = SelfDistiller(SelfDistillConfig(augment=False), lp)
        G.zero_grad()
        value = sd(G(z), G_ema(z))
        value.backward()
        out[name] = (value.item(), torch.cat([p.grad.flatten() for p in G.parameters()]))
        assert value.dtype == torch.float32
    (v32, g32), (v16, g16) = out["fp32"], out["bf16"]
    assert v32 > 0 and abs(v16 - v32) / v32 < 0.01  # < 1% relative
    assert torch.nn.functional.cosine_similarity(g32, g16, dim=0) > 0.99
    assert v16 != v32  # the BF16 path really ran in lower precision
