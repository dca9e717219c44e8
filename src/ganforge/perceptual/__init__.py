"""Pretrained perceptual networks found offline: weight manager, LPIPS, MS-SSIM and ImageNet feature trunks.

Exports are resolved lazily so that `python -m ganforge.perceptual.setup_weights` does not import lpips/scipy.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BACKBONES": "weights",
    "WeightsNotFoundError": "weights",
    "backbone_spec": "weights",
    "cache_root": "weights",
    "find_backbone_weights": "weights",
    "load_backbone_state_dict": "weights",
    "weights_dir": "weights",
    "UnsafePickleError": "restricted_unpickle",
    "load_numpy_pickle": "restricted_unpickle",
    "build_backbone": "features",
    "make_trunk": "features",
    "pooled_features": "features",
    "PooledFeatures": "features",
    "LPIPS": "lpips_metric",
    "ms_ssim": "ms_ssim",
    "ms_ssim_loss": "ms_ssim",
    "setup_weights": "setup_weights",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
