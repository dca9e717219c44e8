"""Training: configs, presets, schedules, the loop, checkpoints."""

from ganforge.training.config import LossConfig, ScheduleConfig, TrainConfig
from ganforge.training.presets import PRESETS, get_preset
from ganforge.training.trainer import Trainer

__all__ = ["PRESETS", "LossConfig", "ScheduleConfig", "TrainConfig", "Trainer", "get_preset"]
