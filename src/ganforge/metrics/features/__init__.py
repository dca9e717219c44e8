"""Feature extractors for the metrics: uint8 images in, {"features": [N, D], ...} out."""

from ganforge.metrics.features.base import FeatureExtractor, ModuleExtractor
from ganforge.metrics.features.inception import InceptionWeightsError, resolve_inception_weights
from ganforge.metrics.features.registry import (
    available_extractors,
    build_extractor,
    register_extractor,
    unregister_extractor,
)

__all__ = [
    "FeatureExtractor",
    "InceptionWeightsError",
    "ModuleExtractor",
    "available_extractors",
    "build_extractor",
    "register_extractor",
    "resolve_inception_weights",
    "unregister_extractor",
]
