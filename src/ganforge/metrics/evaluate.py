"""evaluate_generator / evaluate_images: every requested metric from one feature pass per extractor and set.

Metric names: fid, kid, pr (precision, recall), dc (density, coverage), rfid, modes, confident. fid/kid/pr/dc use
`features` (default "inception"); "fid@classifier-mnist" picks another extractor for one metric (its result
keys carry the same suffix). rfid uses inception-random with seeds 0..rfid_seeds-1; modes and confident use
classifier-mnist. Reference (real) features are cached in memory and on disk, so calling this every few
kimg during training costs one pass over the generated images only. With `distributed=True` (under
torch.distributed, called by every rank) each rank embeds its shard of both sets, rank 0 computes the metrics
from the gathered features and every rank returns its results.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganforge.metrics.cache import FeatureCache, FeatureSet, cache_key, load_stats_npz, tensor_identity
from ganforge.metrics.confident import confident_metrics
from ganforge.metrics.extract import extract_features, iter_batches
from ganforge.metrics.features.base import FeatureExtractor
from ganforge.metrics.features.registry import build_extractor
from ganforge.metrics.fid import GaussianStats, fid_from_stats
from ganforge.metrics.gather import any_rank, broadcast_json, gather_features, shard_bounds
from ganforge.metrics.kid import kid_from_features
from ganforge.metrics.modes import mode_metrics
from ganforge.metrics.neighbors import manifold_metrics
from ganforge.metrics.sampling import eval_latents, iter_generated
from ganforge.utils.distributed import world

METRICS = ("fid", "kid", "pr", "dc", "rfid", "modes", "confident")
FIXED_EXTRACTOR = {"rfid": "inception-random", "modes": "classifier-mnist", "confident": "classifier-mnist"}
NO_REFERENCE = ("modes", "confident")  # computed from the generated images alone


@dataclass
class EvalOptions:
    """Everything that changes a metric value besides the images themselves."""

    features: str = "inception"  # extractor for fid/kid/pr/dc
    weights: str | None = None  # weights file for the `features` extractor (e.g. the Inception .pth)
    allow_download: bool | None = None  # let the inception extractor try its one download
    resize: str = "tf1"  # inception resize: "tf1" (TTUR/torch-fidelity) or "pytorch-fid"
    size: int | None = None  # input size for vgg16/alexnet (default 224)
    extractor_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-extractor extras
    rfid_seeds: int = 5
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    kid_seed: int = 2020
    pr_k: int = 3
    dc_k: int = 5
    num_real: int | None = None  # None: the whole reference set
    batch_size: int = 64
    device: str | torch.device | None = None
    cache_dir: str | os.PathLike | None = None  # default $GANFORGE_CACHE_DIR or ~/.cache/ganforge/metrics
    disk_cache: bool = True
    progress: bool = False
    distributed: bool = False  # shard the feature passes over torch.distributed ranks (every rank must call)


@dataclass(frozen=True)
class MetricSpec:
    metric: str
    extractor: str
    suffix: str  # "" or "@name" appended to result keys


def parse_metrics(metrics: str | Iterable[str], opts: EvalOptions) -> list[MetricSpec]:
    """'fid,kid@vgg16,modes' -> specs; unknown names raise with the list of valid ones."""
    items = [m.strip() for m in (metrics.split(",") if isinstance(metrics, str) else metrics) if m.strip()]
    specs = []
    for item in items:
        metric, _, extractor = item.partition("@")
        if metric not in METRICS:
            raise ValueError(f"unknown metric '{metric}'; choose from {', '.join(METRICS)} (optionally @extractor)")
        default = FIXED_EXTRACTOR.get(metric, opts.features)
        specs.append(MetricSpec(metric, extractor or default, f"@{extractor}" if extractor else ""))
    if not specs:
        raise ValueError("no metrics requested")
    return specs


_RESULT_KEYS = {"fid": ("fid",), "kid": ("kid", "kid_std"), "pr": ("precision", "recall"),
                "dc": ("density", "coverage"), "rfid": ("rfid", "rfid_std"),
                "modes": ("modes", "modes_kl", "modes_kl_marginal", "modes_tc", "modes_total"),
                "confident": ("confident", "confident_classes", "confident_all", "confident_top_class")}


def result_keys(metrics: str | Iterable[str], opts: EvalOptions | None = None) -> list[str]:
    """The keys evaluate_* returns for `metrics` (e.g. to check a best-metric choice before training starts)."""
    return [key + spec.suffix for spec in parse_metrics(metrics, opts or EvalOptions())
            for key in _RESULT_KEYS[spec.metric]]


_EXTRACTORS: dict[tuple, FeatureExtractor] = {}
_CACHES: dict[tuple, FeatureCache] = {}


def _extractor_jobs(specs: list[MetricSpec], opts: EvalOptions) -> dict[str, tuple[str, dict[str, Any]]]:
    """{job key: (extractor name, build options)}; rfid expands to one job per seed."""
    jobs: dict[str, tuple[str, dict[str, Any]]] = {}
    for spec in specs:
        base = {"resize": opts.resize, "size": opts.size, "allow_download": opts.allow_download}
        if spec.extractor == opts.features:
            base["weights"] = opts.weights
        base.update(opts.extractor_options.get(spec.extractor, {}))
        if spec.metric == "rfid":
            for seed in range(opts.rfid_seeds):
                jobs[f"{spec.extractor}#{seed}"] = (spec.extractor, {**base, "seed": seed})
        else:
            jobs[spec.extractor] = (spec.extractor, base)
    return jobs


def get_extractor(name: str, options: dict[str, Any]) -> FeatureExtractor:
    """Built once per process and reused (loading Inception weights takes a while)."""
    key = (name, tuple(sorted((k, str(v)) for k, v in options.items())))
    if key not in _EXTRACTORS:
        _EXTRACTORS[key] = build_extractor(name, **options)
    return _EXTRACTORS[key]


def get_cache(opts: EvalOptions) -> FeatureCache:
    key = (str(opts.cache_dir), opts.disk_cache)
    if key not in _CACHES:
        _CACHES[key] = FeatureCache(opts.cache_dir, use_disk=opts.disk_cache)
    return _CACHES[key]


def _reference_images(real: Any, num_real: int | None) -> tuple[torch.Tensor, str]:
    """(uint8 images, identity) from an ImageDataset-like object, a uint8 tensor or a dataset spec/path."""
    if isinstance(real, (str, Path)):
        from ganforge.data import load_dataset

        real = load_dataset(str(real))
    if isinstance(real, torch.Tensor):
        images, identity = real, None
    elif hasattr(real, "images"):
        images, identity = real.images, getattr(real, "identity", None)
    else:
        raise TypeError(f"reference images must be an ImageDataset, a uint8 tensor or a dataset spec, not {real!r}")
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise TypeError(f"reference images must be uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
    identity = identity or tensor_identity(images)
    if num_real is not None and num_real < len(images):
        idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:num_real].sort().values
        images = images[idx]
    return images, identity


def _sharded(opts: EvalOptions, num: int) -> tuple[int, int] | None:
    """(rank, world) when the passes over `num` images are split across ranks, else None (one process does all)."""
    rank, size = world()
    return (rank, size) if opts.distributed and 1 < size <= num else None


def _extract(extractors: dict[str, FeatureExtractor], images: torch.Tensor, opts: EvalOptions, device: torch.device,
             desc: str) -> dict[str, dict[str, torch.Tensor]]:
    """One pass over a uint8 tensor; split across ranks and gathered in order when opts.distributed."""
    shard = _sharded(opts, len(images))
    if shard is None:
        return extract_features(extractors, iter_batches(images, opts.batch_size), device, len(images),
                                opts.progress, desc)
    start, stop = shard_bounds(len(images), *shard)
    part = extract_features(extractors, iter_batches(images[start:stop], opts.batch_size), device, stop - start,
                            opts.progress and shard[0] == 0, desc)
    return gather_features(part)


def reference_features(real: Any, jobs: dict[str, tuple[str, dict[str, Any]]], opts: EvalOptions,
                       device: torch.device) -> dict[str, FeatureSet]:
    """Reference FeatureSets per job, from cache where possible, else from one pass over the images."""
    if isinstance(real, (str, Path)) and str(real).endswith(".npz"):
        if len(jobs) != 1:
            raise ValueError("a mu/sigma .npz reference supports fid with one extractor only")
        return {key: FeatureSet({}, load_stats_npz(real)) for key in jobs}
    images, identity = _reference_images(real, opts.num_real)
    cache = get_cache(opts)
    extractors = {key: get_extractor(name, o) for key, (name, o) in jobs.items()}
    keys = {key: cache_key(identity, ex.identity, len(images)) for key, ex in extractors.items()}
    found = {key: cache.get(keys[key]) for key in jobs}
    todo = {key: extractors[key] for key, entry in found.items() if entry is None}
    if _sharded(opts, len(images)) is not None and any_rank(bool(todo)):
        todo = extractors  # every rank must take part in the same passes, whatever its own cache holds
    if todo:
        for key, arrays in _extract(todo, images, opts, device, "real features").items():
            found[key] = FeatureSet(arrays)
            cache.put(keys[key], found[key])
    return found  # type: ignore[return-value]


def _compute(specs: list[MetricSpec], ref: dict[str, FeatureSet], fake: dict[str, dict[str, torch.Tensor]],
             opts: EvalOptions, labels: torch.Tensor | None = None) -> dict[str, float]:
    out: dict[str, float] = {}
    manifold_done: set[tuple[str, str]] = set()
    for spec in specs:
        s, ex = spec.suffix, spec.extractor
        if spec.metric in ("kid", "pr", "dc") and "features" not in ref[ex].arrays:
            raise ValueError(f"'{spec.metric}' needs reference features; a mu/sigma .npz only supports fid")
        if spec.metric == "fid":
            out[f"fid{s}"] = fid_from_stats(ref[ex].stats(), GaussianStats.from_features(fake[ex]["features"]))
        elif spec.metric == "kid":
            mean, std = kid_from_features(ref[ex].features, fake[ex]["features"], subsets=opts.kid_subsets,
                                          subset_size=opts.kid_subset_size, seed=opts.kid_seed,
                                          real_terms=ref[ex].kid_terms)
            out[f"kid{s}"], out[f"kid_std{s}"] = mean, std
        elif spec.metric in ("pr", "dc") and (ex, s) not in manifold_done:
            # precision/recall and density/coverage on one extractor share one real-fake distance pass
            wanted = {sp.metric for sp in specs if (sp.extractor, sp.suffix) == (ex, s)}
            pr_k = opts.pr_k if "pr" in wanted else None
            dc_k = opts.dc_k if "dc" in wanted else None
            radii = ref[ex].radii(tuple(k for k in (pr_k, dc_k) if k is not None))
            values = manifold_metrics(ref[ex].features, fake[ex]["features"], pr_k=pr_k, dc_k=dc_k,
                                      real_radii=radii)
            out.update({f"{k}{s}": v for k, v in values.items()})
            manifold_done.add((ex, s))
        elif spec.metric == "rfid":
            keys = [f"{ex}#{i}" for i in range(opts.rfid_seeds)]
            vals = [fid_from_stats(ref[k].stats(), GaussianStats.from_features(fake[k]["features"])) for k in keys]
            out[f"rfid{s}"] = float(np.mean(vals))
            out[f"rfid_std{s}"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0  # spread over seeds
        elif spec.metric == "modes":
            if "digits" not in fake[ex]:
                raise ValueError(f"extractor '{ex}' gives no digit predictions; 'modes' needs classifier-mnist")
            out.update({f"{k}{s}": v for k, v in mode_metrics(fake[ex]["digits"]).items()})
        elif spec.metric == "confident":
            if any(k not in fake[ex] for k in ("digits", "confidence", "digit_distance")):
                raise ValueError(f"extractor '{ex}' gives no digit confidences and distances; 'confident' needs "
                                 "classifier-mnist (with its digit statistics)")
            values = confident_metrics(fake[ex]["digits"], fake[ex]["confidence"], fake[ex]["digit_distance"],
                                       labels=labels)
            out.update({f"{k}{s}": v for k, v in values.items()})
    return out


def _evaluate(real: Any, fake: torch.Tensor | Iterable[torch.Tensor], num_fake: int, metrics: str | Iterable[str],
              opts: EvalOptions, device: torch.device, labels: torch.Tensor | None = None) -> dict[str, float]:
    """`fake`: a uint8 tensor of `num_fake` images, or an iterable of batches; when _sharded(opts, num_fake), the
    batches are this rank's shard_bounds share, in order."""
    specs = parse_metrics(metrics, opts)
    jobs = _extractor_jobs(specs, opts)
    # mode counting compares against the uniform distribution, confident needs no other set: no reference pass
    ref_specs = [sp for sp in specs if sp.metric not in NO_REFERENCE]
    ref = reference_features(real, _extractor_jobs(ref_specs, opts), opts, device) if ref_specs else {}
    extractors = {key: get_extractor(name, o) for key, (name, o) in jobs.items()}
    shard = _sharded(opts, num_fake)
    if isinstance(fake, torch.Tensor):
        feats = _extract(extractors, fake, opts, device, "generated features")
    elif shard is None:
        feats = extract_features(extractors, fake, device, num_fake, opts.progress, "generated features")
    else:
        start, stop = shard_bounds(num_fake, *shard)
        feats = gather_features(extract_features(extractors, fake, device, stop - start,
                                                 opts.progress and shard[0] == 0, "generated features"))
    if shard is None:
        return _compute(specs, ref, feats, opts, labels)
    return _compute_on_rank0(specs, ref, feats, opts, shard[0], labels)


def _compute_on_rank0(specs: list[MetricSpec], ref: dict[str, FeatureSet], feats: dict[str, dict[str, torch.Tensor]],
                      opts: EvalOptions, rank: int, labels: torch.Tensor | None = None) -> dict[str, float]:
    """Rank 0 computes, every rank gets the results; an error on rank 0 is raised on every rank (none waits)."""
    error: Exception | None = None
    payload: dict[str, Any] = {}
    if rank == 0:
        try:
            payload = {"results": _compute(specs, ref, feats, opts, labels)}
        except (ValueError, TypeError, KeyError) as e:
            error, payload = e, {"error": f"{type(e).__name__}: {e}"}
    payload = broadcast_json(payload)  # type: ignore[assignment]
    if error is not None:
        raise error
    if "error" in payload:
        raise ValueError(f"evaluation failed on rank 0: {payload['error']}")
    return payload["results"]


def _options(options: EvalOptions | None, overrides: dict[str, Any]) -> EvalOptions:
    opts = options or EvalOptions()
    names = {f.name for f in fields(EvalOptions)}
    unknown = set(overrides) - names
    if unknown:
        raise TypeError(f"unknown evaluation option(s) {sorted(unknown)}; valid: {sorted(names)}")
    return EvalOptions(**{**{f.name: getattr(opts, f.name) for f in fields(EvalOptions)}, **overrides})


def reference_stats(real: Any, options: EvalOptions | None = None, **overrides: Any) -> GaussianStats:
    """mu/sigma of the reference set under `features` (cached like any reference pass), e.g. to write .npz."""
    opts = _options(options, overrides)
    jobs = _extractor_jobs(parse_metrics("fid", opts), opts)
    ref = reference_features(real, jobs, opts, torch.device(opts.device or "cpu"))
    return next(iter(ref.values())).stats()


def evaluate_images(real: Any, fake: torch.Tensor | Iterable[torch.Tensor], metrics: str | Iterable[str],
                    options: EvalOptions | None = None, **overrides: Any) -> dict[str, float]:
    """Metrics between a reference set (ImageDataset, uint8 tensor, dataset spec, or .npz stats for fid) and
    generated uint8 images (a tensor or an iterable of batches)."""
    opts = _options(options, overrides)
    device = torch.device(opts.device or "cpu")
    if isinstance(fake, torch.Tensor):
        if fake.dtype != torch.uint8:
            raise TypeError(f"generated images must be uint8 (ganforge.data.to_uint8), got {fake.dtype}")
        return _evaluate(real, fake, len(fake), metrics, opts, device)
    if opts.distributed:
        raise ValueError("distributed evaluation needs the generated images as one tensor (or evaluate_generator)")
    return _evaluate(real, fake, 0, metrics, opts, device)


def evaluate_generator(G: nn.Module, real: Any, metrics: str | Iterable[str], num: int, seed: int = 0,
                       batch_size: int | None = None, device: torch.device | str | None = None,
                       options: EvalOptions | None = None, **overrides: Any) -> dict[str, float]:
    """Metrics of exactly `num` samples of G(z, c) (z, c from `seed`) against the reference set `real`.

    G needs `z_dim`, `num_classes` (0 = unconditional; else labels drawn uniformly) and forward(z, c).
    batch_size / device default to the options' (64, else G's device). With opts.distributed every rank
    generates and embeds its contiguous share of the `num` samples.
    """
    opts = _options(options, {**({} if batch_size is None else {"batch_size": batch_size}), **overrides})
    p = next(G.parameters(), None)
    dev = torch.device(device or opts.device or (p.device if p is not None else "cpu"))
    shard = _sharded(opts, num)
    start, stop = (0, num) if shard is None else shard_bounds(num, *shard)
    batches: Iterator[torch.Tensor] = iter_generated(G, num, seed, opts.batch_size, dev, start=start, stop=stop)
    classes = int(getattr(G, "num_classes", 0) or 0)
    labels = eval_latents(num, int(G.z_dim), classes, seed)[1] if classes else None  # the labels asked for
    return _evaluate(real, batches, num, metrics, opts, dev, labels)
