"""MLP feature-map distillation (SDAKD Sec. 3.2): a per-pixel two-layer MLP lifts the student's last backbone
feature map (C x the teacher's width) to the teacher's width, and L2 compares it with the teacher's map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FeatureMLP(nn.Module):
    """1x1 conv (student width -> hidden) -> ReLU -> 1x1 conv (hidden -> teacher width); hidden defaults to the
    teacher's width. Only the input width differs from the same-width MLP of the original method (Sec. 3.2)."""

    def __init__(self, in_channels: int, out_channels: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or out_channels
        self.in_channels, self.out_channels = in_channels, out_channels
        self.net = nn.Sequential(nn.Conv2d(in_channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def mlp_distill_loss(mlp: FeatureMLP, student_feat: torch.Tensor, teacher_feat: torch.Tensor) -> torch.Tensor:
    """L_MLP = mean squared error between MLP(student map) and the teacher map (SDAKD Eq. 1, 3); no gradient
    reaches the teacher."""
    if student_feat.shape[1] != mlp.in_channels or teacher_feat.shape[1] != mlp.out_channels:
        raise ValueError(f"MLP maps {mlp.in_channels} -> {mlp.out_channels} channels but got student "
                         f"{tuple(student_feat.shape)} and teacher {tuple(teacher_feat.shape)}")
    return F.mse_loss(mlp(student_feat.float()), teacher_feat.detach().float())


__all__ = ["FeatureMLP", "mlp_distill_loss"]
