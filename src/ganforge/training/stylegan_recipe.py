"""The generator side of the StyleGAN2-ADA recipe (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN"; NVlabs/stylegan2-ada-pytorch training/loss.py, StyleGAN2Loss): style mixing and lazy path-length
regularisation, for generators with `mapping` and `synthesis` (net.arch=stylegan2 / stylegan3). With R3GAN's
settings the recipe is inert: no hooks, no penalty, reals and fakes through D in one pass.

Both pieces reach w through a forward hook on G.mapping while G makes training images, so G(z, c) keeps
ganforge's call convention and the networks stay the official-layout modules. SD-GAN's teacher (G_ema) replays
the student's style mixing and per-layer noise, so L_SD compares two generators on the same inputs.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn


class StyleMixing:
    """With probability `prob`, ws[:, cutoff:] of a training image come from a second latent through the same
    mapping, cutoff uniform in [1, num_ws) (StyleGAN Sec. 3.1; official run_G). A teacher (SD-GAN's G_ema) replays
    the student's draw, so both see the same mixed latent. Second latents are drawn for the global batch and
    sliced per process, as the trainer draws z."""

    def __init__(self, prob: float, rank: int = 0, world_size: int = 1) -> None:
        self.prob, self.rank, self.world_size = prob, rank, world_size
        self._draw: tuple[torch.Tensor | None, int] = (None, 0)  # (second latent, cutoff) of the last student call

    def _second_latent(self, z: torch.Tensor) -> torch.Tensor:
        n = z.shape[0]
        z2 = torch.randn(n * self.world_size, *z.shape[1:])
        return z2[self.rank * n:(self.rank + 1) * n].to(z.device, z.dtype)

    def _mix(self, mapping: nn.Module, args: tuple, kwargs: dict, ws: torch.Tensor, draw: bool) -> torch.Tensor:
        num_ws = ws.shape[1] if ws.ndim == 3 else 1
        if draw:
            self._draw = (None, num_ws)
            if self.prob > 0 and num_ws > 1:
                cutoff = int(torch.randint(1, num_ws, ()))
                if float(torch.rand(())) < self.prob:
                    self._draw = (self._second_latent(args[0]), cutoff)
        z2, cutoff = self._draw
        if z2 is None or cutoff >= num_ws:
            return ws
        # the second pass leaves w_avg alone (official: skip_w_avg_update=True); forward() skips the hooks
        ws2 = mapping.forward(z2, *args[1:], **{**kwargs, "skip_w_avg_update": True})
        return torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)

    @contextlib.contextmanager
    def __call__(self, G: nn.Module, teacher: nn.Module | None = None) -> Iterator[list[torch.Tensor]]:
        """While open, G's images mix styles (and `teacher`'s replay G's last draw); yields the list that collects
        each ws G's synthesis receives (path length differentiates with respect to it)."""
        captured: list[torch.Tensor] = []

        def student(module: nn.Module, args: tuple, kwargs: dict, ws: torch.Tensor) -> torch.Tensor:
            ws = self._mix(module, args, kwargs, ws, draw=True)
            captured.append(ws)
            return ws

        def replay(module: nn.Module, args: tuple, kwargs: dict, ws: torch.Tensor) -> torch.Tensor:
            return self._mix(module, args, kwargs, ws, draw=False)

        hooks = [G.mapping.register_forward_hook(student, with_kwargs=True)]
        if teacher is not None:
            hooks.append(teacher.mapping.register_forward_hook(replay, with_kwargs=True))
        try:
            yield captured
        finally:
            for h in hooks:
                h.remove()


RngState = tuple[torch.Tensor, torch.Tensor | None]


def _rng_state(device: torch.device) -> RngState:
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def _set_rng_state(state: RngState, device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


@contextlib.contextmanager
def shared_noise(G: nn.Module, teacher: nn.Module) -> Iterator[None]:
    """While open, the teacher's synthesis draws the same per-layer noise as G's last synthesis pass: it starts
    from the random-number state G's synthesis started from, in random-noise mode, and the global stream is put
    back afterwards. Without it an eval-mode G_ema uses its constant noise, and L_SD (SD-GAN Eq. 2) would also
    measure the difference between two noise draws. Nothing changes when G itself does not draw noise."""
    student_mode = getattr(G, "noise_mode", None) or ("random" if G.training else "const")
    if student_mode != "random" or not hasattr(teacher, "synthesis"):
        yield
        return
    states: dict[str, RngState] = {}

    def record(_m: nn.Module, args: tuple) -> None:
        states["student"] = _rng_state(args[0].device)

    def replay(_m: nn.Module, args: tuple) -> None:
        if "student" in states:
            states["outer"] = _rng_state(args[0].device)
            _set_rng_state(states["student"], args[0].device)

    def restore(_m: nn.Module, args: tuple, _out: Any) -> None:
        if "outer" in states:
            _set_rng_state(states.pop("outer"), args[0].device)

    old_mode = teacher.noise_mode
    teacher.noise_mode = "random"
    hooks = [G.synthesis.register_forward_pre_hook(record), teacher.synthesis.register_forward_pre_hook(replay),
             teacher.synthesis.register_forward_hook(restore)]
    try:
        yield
    finally:
        teacher.noise_mode = old_mode
        for h in hooks:
            h.remove()


def path_length_penalty(img: torch.Tensor, ws: torch.Tensor, pl_mean: torch.Tensor, decay: float
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (||J_w^T y||_2 - a)^2 and the updated a (StyleGAN2 Sec. 3.2, Eq. 4).

    y ~ N(0, I) / sqrt(H W) (so the length does not grow with the resolution); the squared length is averaged over
    the num_ws copies of w; a is the running mean of the lengths, a <- lerp(a, mean length, decay), kept in the
    graph for this step as the official code does. create_graph: G's weights get the penalty's gradient.
    """
    noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
    (grads,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
    lengths = grads.square().sum(2).mean(1).sqrt()
    mean = pl_mean.lerp(lengths.mean(), decay)
    return (lengths - mean).square(), mean


class PathLength:
    """Lazy path-length regularisation: on every `every`-th G step, weight x every x the mean penalty over the
    first batch / batch_shrink latents (official pl_weight 2, pl_decay 0.01, pl_batch_shrink 2, G_reg_interval 4).
    The running mean of the lengths (pl_mean) is part of the training state: checkpoints save and restore it."""

    def __init__(self, weight: float, decay: float, batch_shrink: int, every: int, mixing: StyleMixing,
                 device: torch.device) -> None:
        self.weight, self.decay, self.batch_shrink, self.every = weight, decay, batch_shrink, every
        self.mixing = mixing
        self.pl_mean = torch.zeros([], device=device)
        self._last: dict[str, float] = {}

    def __call__(self, G: nn.Module, z: torch.Tensor, c: torch.Tensor | None, step: int
                 ) -> tuple[torch.Tensor | float, dict[str, float]]:
        """(weighted penalty to add to L_G, logged terms); lazy steps add 0 and log the last values."""
        if not self.weight or step % self.every:
            return 0.0, dict(self._last)
        n = max(1, z.shape[0] // self.batch_shrink)
        with self.mixing(G) as ws:
            img = G(z[:n], None if c is None else c[:n])
        penalty, mean = path_length_penalty(img, ws[0], self.pl_mean, self.decay)
        self.pl_mean.copy_(mean.detach())
        self._last = {"PL": float(penalty.detach().mean()), "pl_mean": float(self.pl_mean)}
        return penalty.mean() * (self.weight * self.every), dict(self._last)


class StyleGANRecipe:
    """The pieces the training loop plugs in: `mixing(G, teacher)` around G's training passes, `path_length(G, z,
    c, step)` added to L_G, `joint_d` (False: reals and fakes through D separately, since StyleGAN's
    minibatch-std groups sample i with i + k N/G and one joint pass would mix reals and fakes in a group, which
    the official code never does), and `state_dict()` for checkpoints."""

    def __init__(self, cfg: Any, device: torch.device, rank: int = 0, world_size: int = 1) -> None:
        loss = cfg.loss
        self.style_mixing = StyleMixing(loss.style_mixing, rank, world_size)
        self.path_length = PathLength(loss.pl_weight, loss.pl_decay, loss.pl_batch_shrink, loss.pl_every,
                                      self.style_mixing, device)
        self.joint_d = cfg.net.arch == "r3gan" or cfg.d_arch == "projected"

    def mixing(self, G: nn.Module, teacher: nn.Module | None = None) -> contextlib.AbstractContextManager:
        """Style mixing around G's training passes (nothing when off); a self-distillation teacher replays G's
        mixing and noise."""
        stack = contextlib.ExitStack()
        if self.style_mixing.prob > 0:
            stack.enter_context(self.style_mixing(G, teacher))
        if teacher is not None and hasattr(G, "synthesis"):
            stack.enter_context(shared_noise(G, teacher))
        return stack

    def state_dict(self) -> dict[str, float]:
        return {"pl_mean": float(self.path_length.pl_mean)}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.path_length.pl_mean.fill_(float(state.get("pl_mean", 0.0)))
