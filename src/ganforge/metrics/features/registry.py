"""Registry of feature extractors by name; users register their own nn.Module or factory.

Built in: inception (pretrained FID network), inception-random (rFID), classifier-mnist (digits), vgg16 and
alexnet (ImageNet trunks from the LPIPS weights). Options given to build_extractor (weights, seed, resize,
size, allow_download) reach a factory only if its signature names them, so one option set serves all.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

from torch import nn

from ganforge.metrics.features.base import FeatureExtractor, ModuleExtractor
from ganforge.metrics.features.classifier_mnist import build_classifier_mnist
from ganforge.metrics.features.imagenet import build_imagenet_trunk
from ganforge.metrics.features.inception import build_inception, build_inception_random

Factory = Callable[..., FeatureExtractor | nn.Module]
_REGISTRY: dict[str, tuple[Factory, int | None, int | None]] = {}  # name -> (factory, size, channels)


def register_extractor(name: str, extractor: FeatureExtractor | nn.Module | Factory, *, size: int | None = None,
                       channels: int | None = None, overwrite: bool = False) -> None:
    """Register a FeatureExtractor, a plain nn.Module (images in [-1, 1] -> features), or a factory.

    A plain module (or a factory's plain-module result) is wrapped: optional bilinear resize to size x size,
    grey->RGB when channels=3, 4-D outputs globally average-pooled. Its cache identity is the name plus the
    factory options, so re-register under a new name when a module's weights change.
    """
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"feature extractor '{name}' is already registered (pass overwrite=True to replace it)")
    if isinstance(extractor, nn.Module):
        module = extractor
        _REGISTRY[name] = (lambda: module, size, channels)
    elif callable(extractor):
        _REGISTRY[name] = (extractor, size, channels)
    else:
        raise TypeError(f"cannot register {type(extractor).__name__} as a feature extractor")


def unregister_extractor(name: str) -> None:
    _REGISTRY.pop(name, None)


def available_extractors() -> list[str]:
    return sorted(_REGISTRY)


DIGITS_ONLY = frozenset({"classifier-mnist"})  # built-in extractors trained on handwritten digits alone


def digits_only(names: set[str] | list[str]) -> str | None:
    """Why the extractors `names` cannot score photos (one trained on digits alone), or None: a FID of photo crops
    in a digit classifier's features would look like a number and mean nothing."""
    bad = sorted(set(names) & DIGITS_ONLY)
    if not bad:
        return None
    return (f"{', '.join(bad)} was trained on handwritten digits alone: its FID on photo crops means nothing; use "
            "vgg16 (offline) or inception")


def build_extractor(name: str, **options: Any) -> FeatureExtractor:
    """Build a registered extractor, passing only the options its factory accepts (None options dropped)."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown feature extractor '{name}'; registered: {', '.join(available_extractors())}")
    factory, size, channels = _REGISTRY[name]
    params = inspect.signature(factory).parameters
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in options.items() if v is not None and (takes_all or k in params)}
    extractor = factory(**kwargs)
    if isinstance(extractor, FeatureExtractor):
        return extractor
    if not isinstance(extractor, nn.Module):
        raise TypeError(f"the factory of '{name}' returned {type(extractor).__name__}, not an nn.Module")
    tag = "-".join(f"{k}={v}" for k, v in sorted(kwargs.items()))
    return ModuleExtractor(extractor, name, size=size, channels=channels, identity=f"{name}-s{size}-{tag}")


register_extractor("inception", build_inception)
register_extractor("inception-random", build_inception_random)
register_extractor("classifier-mnist", build_classifier_mnist)
register_extractor("vgg16", partial(build_imagenet_trunk, "vgg16"))
register_extractor("alexnet", partial(build_imagenet_trunk, "alexnet"))
