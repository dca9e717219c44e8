"""Fine-tuning from a trained checkpoint (SD-GAN Sec. 4.1): what `ganforge train --init-from` and
`Trainer(cfg)` with `cfg.init_from` share, so the CLI and the Python API start a fine-tuning run the same way."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from torch import nn

from ganforge.networks import NetworkConfig
from ganforge.training import checkpoint as ckpt
from ganforge.training.config import TrainConfig
from ganforge.training.overrides import ConfigError, update_from_dict

# The burn-in lengths a fine-tuning run sets to 0 (unless kept): a restarted schedule burn-in starts the EMA
# half-life at 0, so the first step would overwrite the pretrained G_ema with G; a restarted augmentation ramp
# would drop p back to 0; an EMA ramp-up (0 = off) would do what the half-life burn-in does, so the official
# StyleGAN2-ADA code turns it off when resuming from a network too.
BURNIN_KEYS = ("schedule.burnin_kimg", "augment.burnin_kimg", "schedule.ema_rampup")


def skip_burnin(cfg: TrainConfig, keep: Collection[str] = ()) -> TrainConfig:
    """Set every burn-in of BURNIN_KEYS not in `keep` to 0: lr, gamma, Adam beta2, EMA half-life and augment p
    start at their end values, the ones the checkpoint was trained with at its end. Returns cfg (changed)."""
    unknown = set(keep) - set(BURNIN_KEYS)
    if unknown:
        raise ConfigError(f"keep_burnin: unknown key(s) {sorted(unknown)}; choose from {list(BURNIN_KEYS)}")
    for key in BURNIN_KEYS:
        if key not in keep:
            section, name = key.split(".")
            setattr(getattr(cfg, section), name, 0.0)
    return cfg


def overridden_burnin(overrides: Collection[str]) -> tuple[str, ...]:
    """The BURNIN_KEYS set by key=value overrides: an explicit burn-in wins over fine-tuning's reset."""
    given = {item.partition("=")[0].strip() for item in overrides}
    return tuple(key for key in BURNIN_KEYS if key in given)


def checkpoint_net(path: str | Path) -> NetworkConfig:
    """The network settings a checkpoint was trained with (fine-tuning keeps its architecture)."""
    from ganforge.training.load import resolve_checkpoint

    net = ckpt.read_state(resolve_checkpoint(path)).get("config", {}).get("net")
    if not isinstance(net, dict):
        raise ConfigError(f"init_from {path}: the checkpoint's state.json has no network config")
    return update_from_dict(NetworkConfig(), net)


def load_init_weights(path: str | Path, modules: dict[str, nn.Module]) -> Path:
    """Load G, G_ema and D (the keys of `modules`) from a run or checkpoint directory; returns the checkpoint."""
    from ganforge.training.load import resolve_checkpoint

    c = resolve_checkpoint(path)
    ckpt.restore_modules(c, modules)
    return c


__all__ = ["BURNIN_KEYS", "checkpoint_net", "load_init_weights", "overridden_burnin", "skip_burnin"]
