"""One feature pass: every image batch goes through all requested extractors once, results gathered on CPU."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import torch
from tqdm import tqdm

from ganforge.metrics.features.base import FeatureExtractor


def iter_batches(images: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for start in range(0, len(images), batch_size):
        yield images[start:start + batch_size]


@torch.no_grad()
def extract_features(extractors: dict[str, FeatureExtractor], batches: Iterable[torch.Tensor],
                     device: torch.device | str = "cpu", total: int | None = None,
                     progress: bool = False, desc: str = "features") -> dict[str, dict[str, torch.Tensor]]:
    """{extractor key: {output name: tensor [N, ...]}} from a single pass over `batches` (uint8 NCHW)."""
    device = torch.device(device)
    for ex in extractors.values():
        ex.to(device).eval()
    parts: dict[str, dict[str, list[torch.Tensor]]] = {key: {} for key in extractors}
    bar = tqdm(total=total, desc=desc, unit="img", disable=not progress, file=sys.stderr, leave=False)
    for batch in batches:
        batch = batch.to(device)
        for key, ex in extractors.items():
            for name, value in ex(batch).items():
                parts[key].setdefault(name, []).append(value.detach().cpu())
        bar.update(len(batch))
    bar.close()
    return {key: {name: torch.cat(vals) for name, vals in out.items()} for key, out in parts.items()}
