"""FID Inception-v3 extractors: pretrained weights found explicitly (never downloaded unasked) and random-FID.

Weights are looked up in this order: the `weights` argument (CLI --weights), the environment variable
GANFORGE_INCEPTION_WEIGHTS, then torch hub's cache ($TORCH_HOME/hub/checkpoints). A download is tried only
when allowed (allow_download=True, CLI --allow-download, or GANFORGE_ALLOW_DOWNLOAD=1). Missing weights
raise InceptionWeightsError naming the file and where to put it; random weights are never substituted.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from ganforge.metrics.features.base import FeatureExtractor, match_channels
from ganforge.metrics.features.inception_net import FIDInceptionV3, empty_inception, fold_batchnorm_, random_init_
from ganforge.utils.hashing import sha256_file

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{WEIGHTS_FILE}"
ALT_WEIGHTS_FILES = ("weights-inception-2015-12-05-6726825d.pth",)  # torch-fidelity's name for the same graph
ENV_WEIGHTS = "GANFORGE_INCEPTION_WEIGHTS"
ENV_DOWNLOAD = "GANFORGE_ALLOW_DOWNLOAD"
RESIZE_MODES = ("tf1", "pytorch-fid")
INPUT_SIZE = 299


class InceptionWeightsError(FileNotFoundError):
    """The pretrained FID Inception weights are not on this machine (and downloading was not allowed)."""


def hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _missing_message(tried: list[str], download_error: str | None) -> str:
    where = hub_checkpoint_dir() / WEIGHTS_FILE
    lines = [
        f"FID Inception-v3 weights '{WEIGHTS_FILE}' were not found.",
        "Looked in: " + ("; ".join(tried) if tried else "(nowhere)"),
        "Fix one of:",
        f"  - put the file at {where} (torch hub's cache; torch-fidelity's copy "
        f"'{ALT_WEIGHTS_FILES[0]}' is accepted there too)",
        f"  - set {ENV_WEIGHTS}=/path/to/{WEIGHTS_FILE}",
        "  - pass --weights /path/to/file.pth (Python: weights=...)",
        f"  - allow a download from {WEIGHTS_URL} with --allow-download or {ENV_DOWNLOAD}=1",
        "Random weights are never substituted; for random-FID use the 'inception-random' extractor.",
    ]
    if download_error:
        lines.insert(2, f"Download failed: {download_error}")
    return "\n".join(lines)


def resolve_inception_weights(weights: str | os.PathLike | None = None, allow_download: bool | None = None) -> Path:
    """Path of the pretrained weights following the documented search order, or InceptionWeightsError."""
    tried: list[str] = []
    explicit = [("weights argument", weights), (f"${ENV_WEIGHTS}", os.environ.get(ENV_WEIGHTS))]
    for label, value in explicit:
        if value:
            path = Path(value).expanduser()
            if path.is_file():
                return path
            tried.append(f"{path} ({label})")
            if label == "weights argument":
                raise InceptionWeightsError(_missing_message(tried, None))
    for name in (WEIGHTS_FILE, *ALT_WEIGHTS_FILES):
        path = hub_checkpoint_dir() / name
        if path.is_file():
            return path
        tried.append(str(path))
    if allow_download is None:
        allow_download = os.environ.get(ENV_DOWNLOAD, "") not in ("", "0", "false", "no")
    error = None
    if allow_download:
        dest = hub_checkpoint_dir() / WEIGHTS_FILE
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(WEIGHTS_URL, str(dest), progress=False)
            return dest
        except Exception as e:  # network errors come in many types; the message is what matters here
            error = f"{type(e).__name__}: {e}"
    raise InceptionWeightsError(_missing_message(tried, error))


@lru_cache(maxsize=8)
def _file_digest(path: str, mtime: float) -> str:
    return sha256_file(path)[:8]


def load_inception_state(net: FIDInceptionV3, path: Path) -> None:
    """Load a pytorch-fid/torch-fidelity state dict (weights_only) and check every parameter is present."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.startswith("AuxLogits.")}
    want = {k for k in net.state_dict() if not k.endswith("num_batches_tracked")}
    have = {k for k in state if not k.endswith("num_batches_tracked")}
    if want != have:
        missing, extra = sorted(want - have), sorted(have - want)
        raise ValueError(f"{path} is not an FID Inception-v3 state dict: missing {missing[:5]} "
                         f"({len(missing)} total), unexpected {extra[:5]} ({len(extra)} total)")
    net.load_state_dict(state, strict=False)


def tf1_resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize exactly as TensorFlow 1.x (align_corners=False, no half-pixel centres).

    This is the resize inside the original FID graph (TTUR) and torch-fidelity's "slow" bit-exact variant.
    """
    def axis(n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pos = torch.arange(size, dtype=x.dtype, device=x.device) * torch.tensor(n_in / size, dtype=torch.float32)
        lo = pos.long()
        hi = (lo + 1).clamp_max(n_in - 1)
        return lo, hi, pos - lo.to(pos.dtype)

    ylo, yhi, dy = axis(x.shape[2])
    xlo, xhi, dx = axis(x.shape[3])
    top, bottom = x.index_select(2, ylo), x.index_select(2, yhi)
    t0, t1 = top.index_select(3, xlo), top.index_select(3, xhi)
    b0, b1 = bottom.index_select(3, xlo), bottom.index_select(3, xhi)
    row0 = t0 + (t1 - t0) * dx.view(1, 1, 1, -1)
    row1 = b0 + (b1 - b0) * dx.view(1, 1, 1, -1)
    return row0 + (row1 - row0) * dy.view(1, 1, -1, 1)


def inception_input(images: torch.Tensor, resize: str = "tf1") -> torch.Tensor:
    """uint8 images -> 299x299 float in [-1, 1], resized the way the reference FID code does it.

    "tf1": TF1 bilinear on [0, 255] then (x - 128) / 128 (TTUR, torch-fidelity, StyleGAN's FID graph);
    "pytorch-fid": x / 255, torch bilinear (align_corners=False), then 2x - 1 (pytorch-fid).
    """
    if images.dtype != torch.uint8:
        raise TypeError(f"Inception features take uint8 images, got {images.dtype} (use ganforge.data.to_uint8)")
    x = match_channels(images, 3).float()
    if resize == "tf1":
        return (tf1_resize(x, INPUT_SIZE) - 128) / 128
    if resize == "pytorch-fid":
        x = F.interpolate(x / 255, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return 2 * x - 1
    raise ValueError(f"unknown resize '{resize}'; choose one of {RESIZE_MODES}")


class InceptionExtractor(FeatureExtractor):
    """2048-d pool features of the FID Inception-v3 (pretrained or seeded-random); BatchNorm folded into the convs
    and channels-last memory for CPU speed (the features equal the unfolded network's to ~1e-6 relative)."""

    def __init__(self, net: FIDInceptionV3, name: str, tag: str, resize: str = "tf1") -> None:
        super().__init__()
        if resize not in RESIZE_MODES:
            raise ValueError(f"unknown resize '{resize}'; choose one of {RESIZE_MODES}")
        self.net = fold_batchnorm_(net.eval()).to(memory_format=torch.channels_last).requires_grad_(False)
        self.name = name
        self.resize = resize
        self._identity = f"{name}-{tag}-{resize}"

    @property
    def identity(self) -> str:
        return self._identity

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = inception_input(images, self.resize).to(next(self.net.parameters()).device)
        return {"features": self.net(x.contiguous(memory_format=torch.channels_last)).float()}


def build_inception(weights: str | os.PathLike | None = None, allow_download: bool | None = None,
                    resize: str = "tf1") -> InceptionExtractor:
    """The standard FID network with the pretrained TF-ported weights."""
    path = resolve_inception_weights(weights, allow_download)
    net = empty_inception()
    load_inception_state(net, path)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.num_batches_tracked.zero_()  # not stored in every weights file; unused in eval mode
    digest = _file_digest(str(path.resolve()), path.stat().st_mtime)
    return InceptionExtractor(net, "inception", digest, resize)


def build_inception_random(seed: int = 0, resize: str = "tf1") -> InceptionExtractor:
    """Same architecture with seeded random weights, for random-FID (StyleGAN-XL; SD-GAN Sec. 4)."""
    net = random_init_(empty_inception(), seed)
    return InceptionExtractor(net, "inception-random", f"seed{seed}", resize)
