"""ViT discriminator backbones: DINO ViT-S/16 and the CLIP ViT-B/32 image tower, in plain PyTorch, offline.

DINO reuses ganforge.compress.dino (official parameter names). The CLIP tower here uses the parameter names of
OpenAI's CLIP and open_clip (`visual.conv1.weight`, `visual.transformer.resblocks.N...`), so their checkpoints load
without either package; its shape (width, depth, patch, grid) is read from the checkpoint. Nothing is downloaded:
a missing file is a WeightsNotFoundError that says what to get and where to put it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.compress.dino import resize_positions, run_blocks
from ganforge.networks.backbones import IMAGENET_SIZE, FrozenBackbone, freeze_module
from ganforge.perceptual.features import IMAGENET_MEAN, IMAGENET_STD
from ganforge.perceptual.weights import WeightsNotFoundError, weights_dir
from ganforge.utils.weights_file import read_state_dict

__all__ = ["CLIP_FILES", "ClipVisual", "ViTBackbone", "clip_backbone", "clip_search_paths", "dino_backbone",
           "load_clip_visual"]

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_FILES = ("ViT-B-32.pt", "open_clip_pytorch_model.bin", "clip_vit_b32.safetensors")
_WHERE = "the d_aux entry's `weights` (or projected.weights for d_arch=projected)"


class ViTBackbone(FrozenBackbone):
    """A ViT with `tokens(x, taps)`; tap "blockK" is the patch-token grid [N, D, h, w] after block K (0-based)."""

    def __init__(self, name: str, net: nn.Module, depth: int, size: int, mean: Sequence[float],
                 std: Sequence[float]) -> None:
        defaults = sorted({depth // 3 - 1, 2 * depth // 3 - 1, depth - 1} - {-1})
        super().__init__(name, size, mean, std, [f"block{i}" for i in defaults])
        self.net, self.depth = freeze_module(net), depth

    def extract(self, x: torch.Tensor, layers: tuple[str, ...]) -> list[torch.Tensor]:
        valid = [f"block{i}" for i in range(self.depth)]
        for layer in layers:
            if layer not in valid:
                raise self.unknown_layer(layer, valid)
        taps = [int(layer.removeprefix("block")) for layer in layers]
        n, h, w = x.shape[0], x.shape[-2] // self.net.patch, x.shape[-1] // self.net.patch
        return [t[:, 1:].transpose(1, 2).reshape(n, t.shape[-1], h, w) for t in self.net.tokens(x, taps)]


def dino_backbone(weights: str | os.PathLike | None = None) -> ViTBackbone:
    """DINO ViT-S/16 at 224 px with ImageNet normalisation; weights searched as ganforge.compress.dino does."""
    from ganforge.compress.dino import EmbeddingUnavailableError, load_dino_vits16

    try:
        net = load_dino_vits16(weights)
    except EmbeddingUnavailableError as e:
        raise WeightsNotFoundError(f"backbone 'dino': {e}\nGive the file's path in {_WHERE}.") from None
    return ViTBackbone("dino", net, len(net.blocks), IMAGENET_SIZE, IMAGENET_MEAN, IMAGENET_STD)


class _ClipBlock(nn.Module):
    """Pre-norm residual attention block with CLIP's parameter names (attn.in_proj_*, mlp.c_fc, mlp.c_proj)."""

    def __init__(self, width: int, heads: int, quick_gelu: bool) -> None:
        super().__init__()
        self.heads, self.quick_gelu = heads, quick_gelu
        self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = nn.Module()
        self.attn.in_proj_weight = nn.Parameter(torch.randn(3 * width, width) / math.sqrt(width))
        self.attn.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.attn.out_proj = nn.Linear(width, width)
        self.mlp = nn.Module()
        self.mlp.c_fc, self.mlp.c_proj = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        qkv = F.linear(self.ln_1(x), self.attn.in_proj_weight, self.attn.in_proj_bias)
        q, k, v = qkv.reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        x = x + self.attn.out_proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, t, d))
        h = self.mlp.c_fc(self.ln_2(x))
        h = h * torch.sigmoid(1.702 * h) if self.quick_gelu else F.gelu(h)
        return x + self.mlp.c_proj(h)


class ClipVisual(nn.Module):
    """CLIP's ViT image tower (OpenAI layout); `tokens` gives the residual stream after chosen blocks."""

    def __init__(self, width: int = 768, layers: int = 12, patch: int = 32, grid: int = 7, heads: int | None = None,
                 output_dim: int = 512, quick_gelu: bool = True) -> None:
        super().__init__()
        self.patch, self.width = patch, width
        self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width) / math.sqrt(width))
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, width) / math.sqrt(width))
        self.ln_pre, self.ln_post = nn.LayerNorm(width), nn.LayerNorm(width)
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.ModuleList(
            _ClipBlock(width, heads or max(width // 64, 1), quick_gelu) for _ in range(layers))
        self.proj = nn.Parameter(torch.randn(width, output_dim) / math.sqrt(width))

    @property
    def blocks(self) -> nn.ModuleList:
        return self.transformer.resblocks

    def tokens(self, x: torch.Tensor, taps: list[int]) -> list[torch.Tensor]:
        """Token sequences [N, 1 + h*w, width] (CLS first) after each block index in taps."""
        grid = self.conv1(x)
        patches = grid.flatten(2).transpose(1, 2)
        cls = self.class_embedding.view(1, 1, -1).expand(x.shape[0], 1, -1)
        pos = resize_positions(self.positional_embedding, *grid.shape[-2:])
        t = self.ln_pre(torch.cat([cls, patches], dim=1) + pos)
        return run_blocks(self.blocks, t, taps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The CLIP image embedding: projected, final-norm CLS token."""
        return self.ln_post(self.tokens(x, [len(self.blocks) - 1])[0][:, 0]) @ self.proj


def clip_search_paths(weights: str | os.PathLike | None = None) -> list[Path]:
    """Where CLIP weights are looked for, in order: explicit, $GANFORGE_CLIP_WEIGHTS, ganforge's and clip's caches."""
    if weights:
        explicit = Path(weights).expanduser()
        return [explicit / f for f in CLIP_FILES] if explicit.is_dir() else [explicit]
    paths = [Path(os.environ["GANFORGE_CLIP_WEIGHTS"]).expanduser()] if os.environ.get("GANFORGE_CLIP_WEIGHTS") else []
    return paths + [weights_dir() / f for f in CLIP_FILES] + [Path.home() / ".cache" / "clip" / CLIP_FILES[0]]


def _read_clip_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = read_state_dict(path)
    except RuntimeError:  # OpenAI's ViT-B-32.pt is a TorchScript archive
        state = torch.jit.load(str(path), map_location="cpu").state_dict()
    visual = {k.removeprefix("module.").removeprefix("visual."): v for k, v in state.items()
              if k.removeprefix("module.").startswith("visual.")}
    return visual or dict(state)


def load_clip_visual(weights: str | os.PathLike | None = None, quick_gelu: bool = True) -> ClipVisual:
    """The CLIP image tower of a checkpoint found offline (shape read from it); eval mode, frozen."""
    paths = clip_search_paths(weights)
    found = next((p for p in paths if p.is_file()), None)
    if found is None:
        tried = "\n  ".join(str(p) for p in paths)
        raise WeightsNotFoundError(
            f"backbone 'clip': no CLIP ViT-B/32 weights found; looked in:\n  {tried}\nGet OpenAI's ViT-B-32.pt (the "
            "file the `clip` package downloads to ~/.cache/clip) or open_clip's ViT-B-32 'openai' checkpoint "
            f"(open_clip_pytorch_model.bin of timm/vit_base_patch32_clip_224.openai) on a connected machine, put it "
            f"in {weights_dir()} (or ~/.cache/clip), set GANFORGE_CLIP_WEIGHTS, or give its path in {_WHERE}. "
            "Neither open_clip nor clip needs to be installed.")
    state = _read_clip_state(found)
    try:
        width, _, patch, _ = state["conv1.weight"].shape
        layers = len({k.split(".")[2] for k in state if k.startswith("transformer.resblocks.")})
        grid = int(math.sqrt(state["positional_embedding"].shape[0] - 1))
        net = ClipVisual(width, layers, patch, grid, output_dim=state["proj"].shape[1], quick_gelu=quick_gelu)
        net.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError) as e:
        raise WeightsNotFoundError(f"{found} is not a CLIP ViT image tower checkpoint ({e.__class__.__name__}: "
                                   f"{str(e)[:300]})") from None
    return net.eval().requires_grad_(False)


def clip_backbone(weights: str | os.PathLike | None = None) -> ViTBackbone:
    """CLIP ViT image tower at 224 px with CLIP's normalisation."""
    net = load_clip_visual(weights)
    return ViTBackbone("clip", net, len(net.blocks), IMAGENET_SIZE, CLIP_MEAN, CLIP_STD)
