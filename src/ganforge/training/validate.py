"""Config validation driven by type hints plus one table of ranges, so every field (also ones added later) is
checked when the config is built and again after key=value overrides, resume configs or attribute changes; plus
the checks of a config against its data and its metric names that must pass before training starts."""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ganforge.data import DatasetError, ImageDataset
from ganforge.limits import hint, limit
from ganforge.training.overrides import ConfigError, coerce


@dataclass(frozen=True)
class Range:
    """Closed (or with *_open, open) numeric bounds; None = unbounded. Applies to each element of a list."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def ok(self, v: float) -> bool:
        return ((self.lo is None or (v > self.lo if self.lo_open else v >= self.lo))
                and (self.hi is None or (v < self.hi if self.hi_open else v <= self.hi)))

    def __str__(self) -> str:
        if self.hi is None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        if self.lo is None:
            return f"{'<' if self.hi_open else '<='} {self.hi:g}"
        return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"


POSITIVE, NON_NEGATIVE, AT_LEAST_1 = Range(0, lo_open=True), Range(0), Range(1)
UNIT, UNIT_OPEN_TOP = Range(0, 1), Range(0, 1, hi_open=True)
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?|xpu(:\d+)?)$")


def _power_of_two(value: int) -> str | None:
    return None if 4 <= value <= 4096 and not value & (value - 1) else "expected a power of two from 4 to 4096"


def _device(value: str) -> str | None:
    return None if _DEVICE.match(value) else "expected auto, cpu, cuda, cuda:N or mps"


# "<dataclass name>.<field>" -> Range, or a check returning an error text. Fields without an entry still get
# their type checked (Literal choices too) and floats must be finite.
RANGES: dict[str, Range | Callable[[Any], str | None]] = {
    "TrainConfig.data_size": AT_LEAST_1,
    "TrainConfig.data_resolution": _power_of_two,
    "TrainConfig.kimg": NON_NEGATIVE,
    "TrainConfig.batch_size": Range(1, 65536),
    "TrainConfig.seed": Range(0, 2**63 - 1),
    "TrainConfig.device": _device,
    "TrainConfig.log_every_kimg": POSITIVE,
    "TrainConfig.snapshot_every_kimg": POSITIVE,
    "TrainConfig.keep_checkpoints": NON_NEGATIVE,
    "TrainConfig.grid_size": Range(1, 1024),
    "TrainConfig.metrics_every_kimg": NON_NEGATIVE,
    "TrainConfig.metrics_num": AT_LEAST_1,
    "TrainConfig.max_nonfinite_skips": AT_LEAST_1,
    "TrainConfig.max_rollbacks": NON_NEGATIVE,
    "ScheduleConfig.burnin_kimg": NON_NEGATIVE,
    "ScheduleConfig.lr_start": POSITIVE,
    "ScheduleConfig.lr_end": POSITIVE,
    "ScheduleConfig.gamma_start": NON_NEGATIVE,
    "ScheduleConfig.gamma_end": NON_NEGATIVE,
    "ScheduleConfig.beta1": UNIT_OPEN_TOP,
    "ScheduleConfig.beta2_start": UNIT_OPEN_TOP,
    "ScheduleConfig.beta2_end": UNIT_OPEN_TOP,
    "ScheduleConfig.ema_halflife_kimg_start": NON_NEGATIVE,
    "ScheduleConfig.ema_halflife_kimg_end": NON_NEGATIVE,
    "ScheduleConfig.d_lr_ratio": POSITIVE,
    "ScheduleConfig.ema_rampup": NON_NEGATIVE,
    "LossConfig.pl_weight": NON_NEGATIVE,
    "LossConfig.pl_decay": UNIT,
    "LossConfig.pl_batch_shrink": AT_LEAST_1,
    "LossConfig.pl_every": AT_LEAST_1,
    "LossConfig.style_mixing": UNIT,
    "NetworkConfig.widths": Range(1, 16384),
    "NetworkConfig.blocks": Range(1, 64),
    "NetworkConfig.cardinalities": AT_LEAST_1,
    "NetworkConfig.d_widths": Range(1, 16384),
    "NetworkConfig.d_cardinalities": AT_LEAST_1,
    "NetworkConfig.expansion": Range(1, 64),
    "NetworkConfig.z_dim": Range(1, 65536),
    "NetworkConfig.img_channels": Range(1, 3),
    "NetworkConfig.num_classes": lambda k: None if k <= limit("MAX_CLASSES") else f"more than {hint('MAX_CLASSES')}",
    "NetworkConfig.g_embed_dim": Range(1, 65536),
    "NetworkConfig.d_embed_dim": Range(1, 65536),
    "NetworkConfig.low_precision_stages": NON_NEGATIVE,
    "NetworkConfig.mbstd_group": NON_NEGATIVE,
    "NetworkConfig.pack": Range(1, 64),
    "AugmentConfig.burnin_kimg": NON_NEGATIVE,
    "SelfDistillConfig.resolution": Range(4, 4096),
    "SRTrainConfig.crop": Range(8, 4096),
    "SRTrainConfig.pixel_weight": NON_NEGATIVE,
    "SRTrainConfig.perceptual_weight": NON_NEGATIVE,
    "SRTrainConfig.gan_weight": NON_NEGATIVE,
    "SRTrainConfig.eval_pairs": Range(1, 4096),
    "SRTrainConfig.eval_seed": Range(0, 2**63 - 1),
}


def _check_value(key: str, rule: Range | Callable[[Any], str | None], value: Any) -> None:
    values = value if isinstance(value, list) else [value]
    for v in values:
        if v is None:
            continue
        if isinstance(rule, Range):
            if not rule.ok(v):
                raise ConfigError(f"{key}={value}: must be {rule}")
        elif (problem := rule(v)) is not None:
            raise ConfigError(f"{key}={value!r}: {problem}")


def check_fields(obj: Any, prefix: str = "") -> None:
    """Types (from the hints, Literal choices included), finiteness and RANGES of obj's own non-nested fields;
    values are normalised in place (e.g. 8.0 -> 8 for an int field)."""
    hints = typing.get_type_hints(type(obj))
    cls = type(obj).__name__
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            continue
        key = prefix + f.name
        value = coerce(value, hints[f.name], key)
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"{key}={value}: must be a finite number")
        rule = RANGES.get(f"{cls}.{f.name}")
        if rule is not None:
            _check_value(key, rule, value)
        object.__setattr__(obj, f.name, value)


def validate_config(cfg: Any, prefix: str = "", run_post_init: bool = True) -> Any:
    """Check a nested dataclass config: every field's type and range, then each part's own __post_init__
    checks (cross-field rules); any problem is a ConfigError naming the dotted key."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            validate_config(value, f"{prefix}{f.name}.")
        for i, item in enumerate(value if isinstance(value, list) else []):  # list entries, e.g. d_aux
            if dataclasses.is_dataclass(item):
                validate_config(item, f"{prefix}{f.name}[{i}].")
    check_fields(cfg, prefix)
    post = getattr(cfg, "__post_init__", None)
    if run_post_init and post is not None:
        try:
            post()
        except ConfigError:
            raise
        except (ValueError, TypeError) as e:
            name = prefix.rstrip(".") or type(cfg).__name__
            raise ConfigError(str(e) if str(e).startswith(f"{name}.") else f"{name}: {e}") from None
    return cfg


def check_style_recipe(cfg: Any) -> None:
    """Path length and style mixing act on a mapping network's w; R3GAN's generator has none."""
    asked = [f"loss.{k}={getattr(cfg.loss, k)}" for k in ("pl_weight", "style_mixing") if getattr(cfg.loss, k)]
    if asked and (cfg.net.arch == "r3gan" or cfg.task != "generate"):
        what = "task=sr" if cfg.task != "generate" else "net.arch=r3gan"
        raise ConfigError(f"{' and '.join(asked)} (StyleGAN2 path length / style mixing) need a generator with a "
                          f"mapping and a synthesis network (net.arch=stylegan2 or stylegan3), not {what}; set them "
                          "to 0 or choose a StyleGAN architecture (e.g. --preset sg2-cpu)")


def check_data_matches(cfg: Any, data: ImageDataset) -> ImageDataset:
    """Adopt channels/classes from the data; a resolution mismatch fails with the values to change."""
    if data.resolution != cfg.net.resolution:
        stages = data.resolution.bit_length() - 2
        if cfg.net.arch == "r3gan":
            fix = (f"set net.widths, net.blocks and net.cardinalities to {stages} entries each (4x4 up to "
                   f"{data.resolution}x{data.resolution})")
        else:  # the official `auto` spec of any resolution is a preset too (training.presets.sg2_auto)
            fix = (f"use --preset sg2-auto-{data.resolution}, or set img_resolution={data.resolution} in "
                   "net.arch_kwargs")
        raise DatasetError(
            f"preset '{cfg.preset}' builds {cfg.net.resolution}x{cfg.net.resolution} images but '{cfg.data}' is "
            f"{data.resolution}x{data.resolution}. Use a preset of that resolution, or {fix}, or resize the data "
            f"(--resolution {cfg.net.resolution}).")
    if cfg.conditional and data.labels is None:
        raise DatasetError(f"conditional=true but '{cfg.data}' has no labels; add a dataset.json or class "
                           "sub-folders, or set conditional=false")
    cfg.net.img_channels = data.channels
    cfg.net.num_classes = data.num_classes if cfg.conditional else 0
    if not cfg.conditional and data.labels is not None:
        data = ImageDataset(data.images, None, 0, data.name, data.source, data.skipped)
    return data


def check_metrics(cfg: Any) -> None:
    """Metric names and best_metric are checked before training starts, not at the first evaluation hours later."""
    if not cfg.metrics and not cfg.best_metric:
        return
    from ganforge.metrics import result_keys
    from ganforge.training.sr_config import SR_METRICS

    if cfg.task == "sr":  # PSNR / SSIM / FID on crops of the held-out pairs (training.sr_task)
        from ganforge.metrics.features.registry import available_extractors, digits_only

        keys = list(cfg.metrics)
        unknown = [m for m in keys if m.partition("@")[0] not in SR_METRICS
                   or ("@" in m and not m.startswith("fid_crops@"))]  # only the FID takes an extractor
        if unknown:
            raise ConfigError(f"metrics: {', '.join(unknown)} not available for task=sr; choose from "
                              f"{', '.join(SR_METRICS)} (fid_crops@EXTRACTOR for another extractor)")
        extractors = {m.partition("@")[2] or cfg.metrics_features for m in keys if m.startswith("fid_crops")}
        missing = sorted(extractors - set(available_extractors()))
        if missing:
            raise ConfigError(f"metrics: no feature extractor {', '.join(missing)} for fid_crops; choose from "
                              f"{', '.join(available_extractors())}")
        if digits_only(extractors):
            raise ConfigError(f"metrics: fid_crops: {digits_only(extractors)} (fid_crops@vgg16)")
        if extractors and cfg.sr.eval_fid_patch > cfg.sr.crop:
            raise ConfigError(f"sr.eval_fid_patch {cfg.sr.eval_fid_patch} is larger than the held-out pairs (sr.crop "
                              f"{cfg.sr.crop}); set sr.eval_fid_patch to at most {cfg.sr.crop}")
    else:
        try:
            keys = result_keys(cfg.metrics) if cfg.metrics else []
        except ValueError as e:
            raise ConfigError(f"metrics: {e}") from None
    if cfg.best_metric and cfg.best_metric not in keys:
        raise ConfigError(f"best_metric '{cfg.best_metric}' is not a result of metrics={cfg.metrics}; "
                          f"choose one of {keys or 'nothing (set metrics=... first)'}")
