"""Which validation metric selects the student checkpoint (SDAKD Sec. 4.2: best validation FID), when the config
says eval_metric="auto": FID on the shipped MNIST classifier's features, if the training data lies in its range."""

from __future__ import annotations

import torch

from ganforge.data import ImageDataset

AUTO_METRIC = "fid@classifier-mnist"
OFF = ("", "none")
# share of real images whose every channel must lie in the classifier's digit range (DigitStats distance <= 1):
# held-out MNIST digits reach about 0.98, sklearn's 8x8 digits, Fashion-MNIST and noise about 0
MIN_IN_RANGE = 0.8


@torch.no_grad()
def in_range_share(data: ImageDataset, num: int = 256, seed: int = 0) -> float:
    """Share of up to `num` random real images (fixed seed) that classifier-mnist sees as digits on every channel."""
    from ganforge.metrics.features.classifier_mnist import build_classifier_mnist

    if data.images.ndim != 4 or len(data.images) == 0:
        return 0.0
    idx = torch.randperm(len(data.images), generator=torch.Generator().manual_seed(seed))[:num]
    with torch.random.fork_rng(devices=[]):  # building the network draws from the global RNG: leave it as it was
        extractor = build_classifier_mnist()
    distance = extractor(data.images[idx])["digit_distance"]
    return float((distance <= 1).all(dim=1).float().mean())


def auto_eval_metric(data: ImageDataset) -> tuple[str, str]:
    """(metric, why) for eval_metric="auto": AUTO_METRIC when the data suits the shipped classifier, else ""."""
    share = in_range_share(data)
    if share >= MIN_IN_RANGE:
        return AUTO_METRIC, f"{100 * share:.0f}% of sampled real images are in classifier-mnist's digit range"
    return "", (f"no usable feature extractor: only {100 * share:.0f}% of sampled real images are in "
                f"classifier-mnist's digit range (need {100 * MIN_IN_RANGE:.0f}%); give --eval-metric to select")


def resolve_eval_metric(metric: str, data: ImageDataset) -> tuple[str, str]:
    """The metric model selection uses ("" = none) and a one-line reason for the run's log."""
    if metric.strip().lower() in OFF:
        return "", "model selection off (eval_metric=none)"
    if metric == "auto":
        return auto_eval_metric(data)
    return metric, "eval_metric given"


__all__ = ["AUTO_METRIC", "MIN_IN_RANGE", "auto_eval_metric", "in_range_share", "resolve_eval_metric"]
