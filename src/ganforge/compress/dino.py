"""DINO ViT-S/16 (Caron et al. 2021) in plain PyTorch with the official checkpoint's parameter names.

Loads `dino_deitsmall16_pretrain.pth` (the state dict `torch.hub.load('facebookresearch/dino:main', 'dino_vits16')`
downloads) from an explicit path, $GANFORGE_DINO_WEIGHTS, `<ganforge cache>/weights/` or torch.hub's checkpoint
cache; nothing is downloaded. The embedding is the final-norm CLS token (384-d), the feature NICKEL & DiME use.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.utils.weights_file import read_state_dict

DINO_FILE = "dino_deitsmall16_pretrain.pth"
DINO_URL = "https://dl.fbaipublicfiles.com/dino/dino_deitsmall16_pretrain/dino_deitsmall16_pretrain.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class EmbeddingUnavailableError(FileNotFoundError):
    """A pretrained embedding network (weights or package) is not available offline; the message says the fix."""


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(x).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(n, t, d))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn = _Attention(dim, heads)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


def resize_positions(pos: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """A [1 + g*g, D] positional table (CLS first) resized bicubically to an h x w patch grid (ViT, CLIP)."""
    grid = int(math.sqrt(pos.shape[0] - 1))
    if (h, w) == (grid, grid):
        return pos
    patch_pos = pos[1:].reshape(1, grid, grid, -1).permute(0, 3, 1, 2)
    patch_pos = F.interpolate(patch_pos, size=(h, w), mode="bicubic", align_corners=False)
    return torch.cat([pos[:1], patch_pos.flatten(2).transpose(1, 2)[0]])


def run_blocks(blocks: nn.ModuleList, tokens: torch.Tensor, taps: list[int]) -> list[torch.Tensor]:
    """Run transformer blocks only as deep as needed; the token sequences after each block index in taps."""
    out: dict[int, torch.Tensor] = {}
    for i, block in enumerate(blocks[:max(taps) + 1]):
        tokens = block(tokens)
        out[i] = tokens
    return [out[i] for i in taps]


class VisionTransformer(nn.Module):
    """DINO's ViT (224-px positional grid, interpolated for other input sizes); forward returns the CLS token."""

    def __init__(self, patch: int = 16, dim: int = 384, depth: int = 12, heads: int = 6, mlp_ratio: float = 4.0):
        super().__init__()
        self.patch, self.dim = patch, dim
        self.patch_embed = _PatchEmbed(patch, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + (224 // patch) ** 2, dim) * 0.02)
        self.blocks = nn.ModuleList(_Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def _pos(self, h: int, w: int) -> torch.Tensor:
        return resize_positions(self.pos_embed[0], h, w)[None]

    def tokens(self, x: torch.Tensor, taps: list[int]) -> list[torch.Tensor]:
        """Token sequences [N, 1 + h*w, D] (CLS first, not normalised) after each block index in taps."""
        h, w = x.shape[-2] // self.patch, x.shape[-1] // self.patch
        tokens = self.patch_embed(x)
        tokens = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), tokens], dim=1) + self._pos(h, w)
        return run_blocks(self.blocks, tokens, taps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.tokens(x, [len(self.blocks) - 1])[0])[:, 0]


def dino_search_paths(weights: str | os.PathLike | None = None) -> list[Path]:
    """Where the DINO ViT-S/16 weights are looked for, in order."""
    paths = [Path(weights)] if weights else []
    if os.environ.get("GANFORGE_DINO_WEIGHTS"):
        paths.append(Path(os.environ["GANFORGE_DINO_WEIGHTS"]))
    cache = Path(os.environ.get("GANFORGE_CACHE", Path.home() / ".cache" / "ganforge"))
    paths += [cache / "weights" / DINO_FILE, Path(torch.hub.get_dir()) / "checkpoints" / DINO_FILE]
    return paths


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    state = read_state_dict(path, unwrap=("teacher", "state_dict", "model"))  # DINO training checkpoints nest it
    return {k.removeprefix("module.").removeprefix("backbone."): v for k, v in state.items()
            if not k.startswith(("head.", "module.head."))}


def load_dino_vits16(weights: str | os.PathLike | None = None) -> VisionTransformer:
    """The pretrained DINO ViT-S/16, eval mode, frozen; a clear error naming the file if it is not found."""
    paths = dino_search_paths(weights)
    found = next((p for p in paths if p.is_file()), None)
    if found is None:
        tried = "\n  ".join(str(p) for p in paths)
        raise EmbeddingUnavailableError(
            f"DINO ViT-S/16 weights not found; looked in:\n  {tried}\nDownload {DINO_URL} on a connected machine "
            f"and put it in one of these places (or pass its path / set GANFORGE_DINO_WEIGHTS). Offline "
            "alternatives: embeddings from the evaluation registry, e.g. vgg16 or alexnet.")
    net = VisionTransformer()
    missing, unexpected = net.load_state_dict(_read_state(found), strict=False)
    if missing or unexpected:
        raise EmbeddingUnavailableError(f"{found} is not a DINO ViT-S/16 state dict (missing {missing[:4]}, "
                                        f"unexpected {unexpected[:4]})")
    return net.eval().requires_grad_(False)


__all__ = ["DINO_FILE", "EmbeddingUnavailableError", "VisionTransformer", "dino_search_paths", "load_dino_vits16",
           "resize_positions", "run_blocks"]
