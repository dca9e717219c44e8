"""Evaluation suite: FID, KID, random-FID, precision/recall, density/coverage, Stacked-MNIST modes, confident digits.

Metrics that share a feature extractor share one feature pass per image set; reference features are cached
(memory and disk). See docs/metrics.md.
"""

from ganforge.metrics.cache import FeatureCache, load_stats_npz, save_stats_npz
from ganforge.metrics.confident import confident_metrics
from ganforge.metrics.curves import is_better, metric_direction, plot_metric_curves, read_metric_log
from ganforge.metrics.density_coverage import density_coverage
from ganforge.metrics.evaluate import (
    METRICS,
    EvalOptions,
    evaluate_generator,
    evaluate_images,
    parse_metrics,
    result_keys,
)
from ganforge.metrics.extract import extract_features
from ganforge.metrics.features import (
    FeatureExtractor,
    InceptionWeightsError,
    available_extractors,
    build_extractor,
    register_extractor,
    unregister_extractor,
)
from ganforge.metrics.fid import GaussianStats, fid_from_features, fid_from_stats, frechet_distance
from ganforge.metrics.kid import kid_from_features, polynomial_mmd2
from ganforge.metrics.modes import mode_histogram, mode_ids, mode_metrics, modes_covered, reverse_kl_to_uniform
from ganforge.metrics.precision_recall import precision_recall
from ganforge.metrics.sampling import generate_images, iter_generated

__all__ = [
    "METRICS",
    "EvalOptions",
    "FeatureCache",
    "FeatureExtractor",
    "GaussianStats",
    "InceptionWeightsError",
    "available_extractors",
    "build_extractor",
    "confident_metrics",
    "density_coverage",
    "evaluate_generator",
    "evaluate_images",
    "extract_features",
    "fid_from_features",
    "fid_from_stats",
    "frechet_distance",
    "generate_images",
    "is_better",
    "iter_generated",
    "kid_from_features",
    "load_stats_npz",
    "metric_direction",
    "mode_histogram",
    "mode_ids",
    "mode_metrics",
    "modes_covered",
    "parse_metrics",
    "plot_metric_curves",
    "polynomial_mmd2",
    "precision_recall",
    "read_metric_log",
    "register_extractor",
    "result_keys",
    "reverse_kl_to_uniform",
    "save_stats_npz",
    "unregister_extractor",
]
