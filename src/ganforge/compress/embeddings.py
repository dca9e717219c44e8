"""Embedding networks phi for DiME (NICKEL & DiME Eq. 1): DINO, CLIP, or any extractor of the evaluation registry.

Every embedder maps float images in [-1, 1] (N, 1|3, H, W) to [N, D] features differentiably (gradients flow
to the images, the network itself is frozen), and has an `identity` string that keys teacher statistics.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.compress.dino import IMAGENET_MEAN, IMAGENET_STD, EmbeddingUnavailableError, load_dino_vits16

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class Embedder(nn.Module):
    """Frozen phi: images [-1, 1] -> [N, D]."""

    name: str = "embedder"

    @property
    def identity(self) -> str:
        return self.name


def _rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def _resize(x: torch.Tensor, size: int | None) -> torch.Tensor:
    if size is None or tuple(x.shape[-2:]) == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False,
                         antialias=min(x.shape[-2:]) > size)


class NormalizedEmbedder(Embedder):
    """[-1, 1] -> resize -> [0, 1] -> (x - mean) / std -> network (DINO, CLIP)."""

    def __init__(self, net: nn.Module, name: str, size: int, mean: tuple, std: tuple, tag: str = ""):
        super().__init__()
        self.net = net.eval().requires_grad_(False)
        self.name, self.size, self._tag = name, size, tag
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    @property
    def identity(self) -> str:
        return f"{self.name}-s{self.size}{self._tag}"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = _resize(_rgb(images.float()), self.size)
        return self.net(((x + 1) / 2 - self.mean) / self.std).float().flatten(1)


def load_dino(weights: str | os.PathLike | None = None, size: int = 224) -> Embedder:
    """DINO ViT-S/16 CLS embedding (weights searched offline, see ganforge.compress.dino)."""
    return NormalizedEmbedder(load_dino_vits16(weights), "dino", size, IMAGENET_MEAN, IMAGENET_STD)


class _OpenClipImage(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(x)


class _HFClipImage(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=x).image_embeds


def load_clip(weights: str | os.PathLike | None = None, arch: str = "ViT-B-32", size: int = 224) -> Embedder:
    """CLIP image embedding via open_clip (a local checkpoint file) or transformers (a local model directory).

    `weights` (or $GANFORGE_CLIP_WEIGHTS) names the file/directory; nothing is downloaded.
    """
    path = weights or os.environ.get("GANFORGE_CLIP_WEIGHTS")
    how = ("put the weights on disk and pass them as clip weights (nickel.clip_weights=PATH) or set "
           "GANFORGE_CLIP_WEIGHTS: an open_clip checkpoint file for "
           f"{arch} (e.g. open_clip_pytorch_model.bin of laion/CLIP-{arch}-openai) or a transformers "
           "CLIPVisionModelWithProjection directory (openai/clip-vit-base-patch32). Offline alternatives: "
           "embeddings from the evaluation registry, e.g. vgg16 or alexnet.")
    if not path or not os.path.exists(path):
        raise EmbeddingUnavailableError(f"CLIP weights not found ({path or 'no path given'}); {how}")
    try:
        import open_clip

        model = open_clip.create_model(arch, pretrained=str(path))
        return NormalizedEmbedder(_OpenClipImage(model), "clip", size, CLIP_MEAN, CLIP_STD, f"-{arch}")
    except ImportError:
        pass
    try:
        from transformers import CLIPVisionModelWithProjection

        model = CLIPVisionModelWithProjection.from_pretrained(str(path), local_files_only=True)
        return NormalizedEmbedder(_HFClipImage(model), "clip", size, CLIP_MEAN, CLIP_STD, "-hf")
    except ImportError:
        raise EmbeddingUnavailableError("CLIP needs `pip install open_clip_torch` (or `pip install transformers`); "
                                        f"neither is installed. Then {how}") from None


class RegistryEmbedder(Embedder):
    """Any extractor of `ganforge.metrics` (built by name) made differentiable on float images in [-1, 1].

    Registry extractors take uint8 images; here the float image is fed at the scale each kind expects
    (ImageNet trunks divide by 255; plain registered modules and `to_unit_range`-style extractors take [-1, 1]).
    """

    def __init__(self, name: str, **options):
        super().__init__()
        from ganforge.metrics.features import build_extractor
        from ganforge.metrics.features.base import ModuleExtractor
        from ganforge.metrics.features.imagenet import ImageNetTrunkExtractor

        self.extractor = build_extractor(name, **options).eval().requires_grad_(False)
        self.name = name
        self._kind = ("module" if isinstance(self.extractor, ModuleExtractor) else
                      "byte-scale" if isinstance(self.extractor, ImageNetTrunkExtractor) else "unit")

    @property
    def identity(self) -> str:
        return f"registry-{self.extractor.identity}"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        from ganforge.metrics.features.base import match_channels, resize_square

        x = images.float()
        ex = self.extractor
        if self._kind == "module":
            if ex.channels is not None:
                x = match_channels(x, ex.channels)
            out = ex.module(resize_square(x, ex.size))
            return (out.mean(dim=(2, 3)) if out.ndim == 4 else out).flatten(1).float()
        if self._kind == "byte-scale":
            x = (x + 1) * 127.5
        try:
            return ex(x)["features"].float()
        except TypeError as e:
            raise TypeError(f"extractor '{self.name}' only takes uint8 images, so it cannot be a differentiable "
                            f"embedding; use dino, clip, vgg16, alexnet or a registered nn.Module ({e})") from e


def build_embedder(name: str, weights: str | os.PathLike | None = None, size: int | None = None) -> Embedder:
    """'dino', 'clip', or the name of a registered feature extractor (e.g. 'vgg16', 'alexnet')."""
    if name == "dino":
        return load_dino(weights, size or 224)
    if name == "clip":
        return load_clip(weights, size=size or 224)
    options = {k: v for k, v in {"weights": weights, "size": size}.items() if v is not None}
    return RegistryEmbedder(name, **options)


__all__ = ["Embedder", "EmbeddingUnavailableError", "NormalizedEmbedder", "RegistryEmbedder", "build_embedder",
           "load_clip", "load_dino"]
