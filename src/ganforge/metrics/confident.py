"""Confident-digit share: how often a generated channel is a digit the MNIST classifier is sure of and that looks real.

A cheap, reference-free readout of "does this look like a digit at all" for MNIST-like generators, which FID on
few samples does not give early in training. Each image channel is classified on its own (Stacked MNIST has 3); a
channel is a confident digit when the classifier's calibrated max softmax is >= CONFIDENCE_THRESHOLD *and* its
features lie within the real digits' range (`digit_distance` <= MAX_DIGIT_DISTANCE: squared Mahalanobis distance to
the predicted class's real digits, in units of the 99th percentile of the training digits' own distances). The
softmax alone is over-confident off the digit manifold: noise, constant images and an untrained generator score
p ~ 1 but lie far outside.
  confident         = share of (sample, channel) pairs that are confident digits,
  confident_classes = number of distinct digit classes (0-10) among those confident predictions,
  confident_all     = share of samples whose every channel is confident (= confident for 1 channel).
  confident_top_class = share of the confident predictions that fall in the commonest class: ~0.1 when the classes
                      are balanced, near 1 for a collapsed generator that still yields a few stray classes
                      (0 when nothing is confident).
  confident_label   = (class-conditional digit generators only) share of samples that are confident digits of the
                      class they were asked for: a conditional model that ignores its label scores ~1/10 of confident.
"""

from __future__ import annotations

import torch

CONFIDENCE_THRESHOLD = 0.9
MAX_DIGIT_DISTANCE = 1.0  # digit_distance is already divided by the fitted real-digit threshold


def confident_metrics(digits: torch.Tensor, confidence: torch.Tensor, distance: torch.Tensor,
                      threshold: float = CONFIDENCE_THRESHOLD,
                      max_distance: float = MAX_DIGIT_DISTANCE, labels: torch.Tensor | None = None
                      ) -> dict[str, float]:
    """digits int64 [N, C], confidence (max softmax) [N, C] and digit_distance [N, C] -> {"confident",
    "confident_classes", "confident_all", "confident_top_class"}, plus "confident_label" given the requested digit
    labels [N] of a one-channel conditional generator."""
    if digits.ndim != 2 or digits.shape != confidence.shape or digits.shape != distance.shape:
        raise ValueError(f"digits, confidence and distance must all be [N, channels], got {tuple(digits.shape)}, "
                         f"{tuple(confidence.shape)} and {tuple(distance.shape)}")
    if digits.numel() == 0:
        raise ValueError("no predictions to score")
    sure = (confidence >= threshold) & (distance <= max_distance)
    counts = digits[sure].unique(return_counts=True)[1]
    out = {"confident": float(sure.float().mean()),
           "confident_classes": float(counts.numel()),
           "confident_all": float(sure.all(dim=1).float().mean()),
           "confident_top_class": float(counts.max() / counts.sum()) if counts.numel() else 0.0}
    if labels is not None and digits.shape[1] == 1 and len(labels) == len(digits) and int(labels.max()) < 10:
        out["confident_label"] = float((sure[:, 0] & (digits[:, 0] == labels.to(digits.device))).float().mean())
    return out
