"""Channel-fraction students: the teacher's architecture with every width times C (SDAKD Sec. 3.1).

Students are plain networks of the teacher's architecture built from a scaled `NetworkConfig` (R3GAN here,
StyleGAN2 in compress.student_stylegan), so checkpoints, `load_generator` and export treat them like any other
network. Teacher initialisation keeps, for every channel set, the channels with the largest L1 norm (see
`teacher_channel_init`).
"""

from __future__ import annotations

import copy
import dataclasses

import torch
from torch import nn

from ganforge.compress.student_stylegan import (
    is_stylegan,
    stylegan2_student_net,
    stylegan_feature_widths,
    stylegan_layout,
    weight_gains,
)
from ganforge.networks import Discriminator, Generator, NetworkConfig, build_discriminator, build_generator
from ganforge.networks.adapters import StyleGANDiscriminator

INITS = ("teacher", "random")

# An axis label: None (not a channel axis), "<set>" (indexed by that channel set), "~<set>" (the in-group
# input axis of a grouped conv whose output axis is <set>), "+<set>" (<set> followed by extra channels that are
# always kept: the minibatch-std statistics of D's head) or "*<set>" (a flattened [<set>, H, W] axis, channel-major).
Layout = dict[str, tuple[str | None, ...]]


def scale_width(width: int, fraction: float) -> int:
    """round(width * C), at least one channel."""
    return max(1, round(width * fraction))


def group_size_for(hidden: int, teacher_group: int) -> int:
    """The teacher's group size when it divides the student's expanded width, else its largest divisor below it."""
    return max(d for d in range(1, min(hidden, teacher_group) + 1) if hidden % d == 0)


def student_config(cfg: NetworkConfig, fraction: float) -> NetworkConfig:
    """Every stage width (and an explicit D projection width) times C; cardinalities follow so that the grouped
    conv keeps the teacher's group size (R3GAN uses 16) whenever it divides the student's expanded width.
    StyleGAN2 teachers: compress.student_stylegan.stylegan2_student_net."""
    if cfg.arch != "r3gan":
        return stylegan2_student_net(cfg, fraction)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    widths, cards = _scaled_stages(cfg.widths, cfg.cardinalities, cfg.expansion, fraction)
    d_widths, d_cards = (None, None) if cfg.d_widths is None else \
        _scaled_stages(cfg.d_widths, cfg.disc_cardinalities, cfg.expansion, fraction)  # a D sized apart from G
    d_embed = None if cfg.d_embed_dim is None else scale_width(cfg.d_embed_dim, fraction)
    return dataclasses.replace(copy.deepcopy(cfg), widths=widths, cardinalities=cards, d_widths=d_widths,
                               d_cardinalities=d_cards, d_embed_dim=d_embed)


def _scaled_stages(widths: list[int], cardinalities: list[int], expansion: int, fraction: float
                   ) -> tuple[list[int], list[int]]:
    """(stage widths x C, cardinalities that keep the teacher's group size where it divides)."""
    scaled = [scale_width(w, fraction) for w in widths]
    cards = [w_s * expansion // group_size_for(w_s * expansion, (w_t * expansion) // c_t)
             for w_t, c_t, w_s in zip(widths, cardinalities, scaled)]
    return scaled, cards


def _block_layout(prefix: str, stream: str, hidden: str) -> Layout:
    return {f"{prefix}.conv1.weight": (hidden, stream, None, None), f"{prefix}.act1.bias": (hidden,),
            f"{prefix}.conv2.weight": (hidden, f"~{hidden}", None, None), f"{prefix}.act2.bias": (hidden,),
            f"{prefix}.conv3.weight": (stream, hidden, None, None)}


def generator_layout(cfg: NetworkConfig) -> tuple[Layout, dict[str, int]]:
    """Channel axes of every Generator tensor, and the cardinality of each hidden (grouped) channel set.

    Stages joined by a transition without projection (equal widths) share one residual-stream channel set.
    """
    layout: Layout = {"stages.0.transition.basis": ("s0", None, None),
                      "stages.0.transition.linear.weight": ("s0", None)}
    if cfg.num_classes:
        layout["embed.weight"] = (None, None)
    cards, stream = {}, "s0"
    for i, (blocks, card) in enumerate(zip(cfg.blocks, cfg.cardinalities)):
        if i > 0 and cfg.widths[i] != cfg.widths[i - 1]:
            new = f"s{i}"
            layout[f"stages.{i}.transition.proj.weight"] = (new, stream, None, None)
            stream = new
        for j in range(blocks):
            cards[f"h{i}.{j}"] = card
            layout.update(_block_layout(f"stages.{i}.blocks.{j}", stream, f"h{i}.{j}"))
    layout["to_rgb.weight"] = (None, stream, None, None)
    return layout, cards


def discriminator_layout(cfg: NetworkConfig) -> tuple[Layout, dict[str, int]]:
    """Channel axes of every Discriminator tensor (stages run high -> low resolution), plus hidden cardinalities."""
    widths, blocks, card_list = (list(reversed(v)) for v in (cfg.disc_widths, cfg.blocks,
                                                             cfg.disc_cardinalities))
    layout: Layout = {"from_rgb.weight": ("s0", None, None, None)}
    cards, stream = {}, "s0"
    for i in range(len(widths)):
        for j in range(blocks[i]):
            cards[f"h{i}.{j}"] = card_list[i]
            layout.update(_block_layout(f"stages.{i}.blocks.{j}", stream, f"h{i}.{j}"))
        if i < len(widths) - 1 and widths[i + 1] != widths[i]:
            new = f"s{i + 1}"
            layout[f"stages.{i}.transition.proj.weight"] = (new, stream, None, None)
            stream = new
    last = len(widths) - 1
    # with minibatch-std the head is Sequential(MinibatchStd, DiscriminativeBasis) over the stream plus one channel
    basis, head_in = ((f"stages.{last}.transition.1", f"+{stream}") if cfg.mbstd_group
                      else (f"stages.{last}.transition", stream))
    layout[f"{basis}.depthwise.weight"] = (head_in, None, None, None)
    head = "p" if cfg.num_classes else None
    layout[f"{basis}.linear.weight"] = (head, head_in)
    if cfg.num_classes:
        layout["embed.weight"] = ("p", None)
    return layout, cards


def layout_of(module: nn.Module) -> tuple[Layout, dict[str, int]]:
    if isinstance(module, Generator):
        return generator_layout(module.cfg)
    if isinstance(module, Discriminator):
        return discriminator_layout(module.cfg)
    if is_stylegan(module):
        return stylegan_layout(module), {}
    raise TypeError(f"expected a ganforge Generator or Discriminator, got {type(module).__name__}")


def set_sizes(state: dict[str, torch.Tensor], layout: Layout) -> dict[str, int]:
    """Channels in each set, read from the axes labelled by the plain set name."""
    sizes: dict[str, int] = {}
    for name, axes in layout.items():
        for d, label in enumerate(axes):
            if label is not None and label[0] not in "~+*":
                sizes[label] = state[name].shape[d]
    return sizes


def channel_importance(state: dict[str, torch.Tensor], layout: Layout,
                       cards: dict[str, int]) -> dict[str, torch.Tensor]:
    """L1 norm of every weight touching each channel (written or read by it), per channel set."""
    sizes = set_sizes(state, layout)
    imp: dict[str, torch.Tensor] = {}
    for name, axes in layout.items():
        t = state[name].detach().abs().double()
        for d, label in enumerate(axes):
            if label is None:
                continue
            if label.startswith("~"):
                base = label[1:]
                g = t.shape[1]  # in-group width == out-group width for the block's square grouped conv
                contrib = t.reshape(cards[base], g, g, -1).sum(dim=(1, 3)).reshape(-1)
            elif label.startswith("*"):
                base = label[1:]
                contrib = t.movedim(d, 0).reshape(sizes[base], -1).sum(dim=1)  # all positions of each channel
            else:
                base = label.removeprefix("+")
                contrib = t.movedim(d, 0).reshape(t.shape[d], -1).sum(dim=1)
                contrib = contrib[:sizes[base]]  # "+": the extra channels are always kept
            imp[base] = imp.get(base, 0) + contrib
    return imp


def _top(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k largest scores (ties: lower index first), returned in ascending order."""
    order = torch.argsort(-scores, stable=True)
    return order[:k].sort().values


def select_channels(imp: dict[str, torch.Tensor], sizes: dict[str, int], cards_t: dict[str, int],
                    cards_s: dict[str, int]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Kept teacher indices per set; grouped sets keep whole groups (largest group L1 norm) and, inside each kept
    group, the channels with the largest L1 norm. Also returns each grouped set's in-group indices [card_S, g_S]."""
    keep, local = {}, {}
    for name, scores in imp.items():
        n_s = sizes[name]
        if name not in cards_t:
            keep[name] = _top(scores, n_s)
            continue
        c_t, c_s = cards_t[name], cards_s[name]
        if c_s > c_t:
            raise ValueError(f"channel set {name}: the student has more groups ({c_s}) than the teacher ({c_t}); "
                             "teacher initialisation cannot map them, use init='random'")
        g_t, g_s = len(scores) // c_t, n_s // c_s
        per_group = scores.view(c_t, g_t)
        groups = _top(per_group.sum(dim=1), c_s)
        inner = torch.stack([_top(per_group[g], g_s) for g in groups.tolist()])
        keep[name] = (groups[:, None] * g_t + inner).reshape(-1)
        local[name] = inner
    return keep, local


def teacher_channel_init(student: nn.Module, teacher: nn.Module) -> nn.Module:
    """Copy the teacher's weights restricted to the kept channels into the student (in place; returns it).

    Rule: per channel set, score = sum of |w| over all weights that write or read the channel; keep the
    top-scoring channels in their original order. Deterministic; with C = 1 the student equals the teacher.
    Equalised-lr weights (StyleGAN2) are scored and copied as applied (stored weight x run-time gain), so a kept
    connection keeps its effective strength although the student's fan-in, hence its gain, is smaller.
    """
    if type(student) is not type(teacher):
        raise TypeError(f"student {type(student).__name__} and teacher {type(teacher).__name__} differ in kind")
    layout_t, cards_t = layout_of(teacher)
    layout_s, cards_s = layout_of(student)
    if layout_t.keys() != layout_s.keys():
        raise ValueError("student and teacher differ in structure (a width equality between stages changed with "
                         "rounding); use init='random' or a fraction that keeps the width pattern")
    gains_t, gains_s = weight_gains(teacher), weight_gains(student)
    t_state = {k: v.detach() * gains_t[k] if k in gains_t else v.detach() for k, v in teacher.state_dict().items()}
    sizes_t = set_sizes(t_state, layout_t)
    keep, local = select_channels(channel_importance(t_state, layout_t, cards_t),
                                  set_sizes(student.state_dict(), layout_s), cards_t, cards_s)
    new = {}
    for name, value in t_state.items():
        axes = layout_t.get(name, ())
        t = value.clone()
        for d, label in enumerate(axes):
            if label is None or label.startswith("~"):
                continue
            kept = keep[label.lstrip("+*")].cpu()
            if label.startswith("+"):  # the set, then its always-kept extra channels
                kept = torch.cat([kept, torch.arange(sizes_t[label[1:]], t.shape[d])])
            elif label.startswith("*"):  # every position of each kept channel
                k = t.shape[d] // sizes_t[label[1:]]
                kept = (kept[:, None] * k + torch.arange(k)).reshape(-1)
            t = t.index_select(d, kept.to(t.device))
        for d, label in enumerate(axes):
            if label is not None and label.startswith("~"):
                inner = local[label[1:]].to(t.device)  # [card_S, g_S]
                rows = inner.repeat_interleave(inner.shape[1], dim=0)  # the in-group indices of each output row
                idx = rows.view(rows.shape[0], rows.shape[1], *([1] * (t.ndim - 2))).expand(-1, -1, *t.shape[2:])
                t = torch.gather(t, d, idx)
        new[name] = t / gains_s[name] if name in gains_s else t
    student.load_state_dict(new)
    return student


def make_student(teacher: nn.Module, fraction: float, init: str = "teacher", seed: int | None = None) -> nn.Module:
    """The teacher's architecture at width fraction C, initialised from the teacher ('teacher') or randomly."""
    if init not in INITS:
        raise ValueError(f"unknown init '{init}'; choose one of {INITS}")
    cfg = student_config(teacher.cfg, fraction)
    if seed is not None:
        torch.manual_seed(seed)
    if cfg.arch == "r3gan":
        student = type(teacher)(cfg)
    else:
        student = (build_discriminator if isinstance(teacher, StyleGANDiscriminator) else build_generator)(cfg)
    p = next(teacher.parameters(), None)
    if p is not None:
        student.to(p.device)
    if init == "teacher":
        with torch.no_grad():
            teacher_channel_init(student, teacher)
    return student


def feature_widths(module: nn.Module) -> list[tuple[int, int]]:
    """(resolution, channels) of each feature map G(z, c, return_features=True) or D(x, c, return_features=True)
    returns, in order: what feature-level distillation (NICKEL, SDAKD's MLP) needs to know of any architecture."""
    if is_stylegan(module):
        return stylegan_feature_widths(module)
    cfg = module.cfg
    if isinstance(module, Generator):
        return [(4 * 2**i, w) for i, w in enumerate(cfg.widths)]
    if isinstance(module, Discriminator):  # stage outputs after each down transition, the 1x1 head excluded
        widths = list(reversed(cfg.disc_widths))
        return [(cfg.resolution // 2 ** (j + 1), widths[j + 1]) for j in range(len(widths) - 1)]
    raise TypeError(f"expected a ganforge generator or discriminator, got {type(module).__name__}")


__all__ = ["INITS", "channel_importance", "discriminator_layout", "feature_widths", "generator_layout",
           "group_size_for", "make_student", "scale_width", "select_channels", "set_sizes", "student_config",
           "teacher_channel_init"]
