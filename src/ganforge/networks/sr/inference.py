"""Upscaling whole images with an SR generator, optionally in overlapping tiles so large images fit in memory."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import UserError

MIN_TILE = 8  # input pixels per tile side; smaller tiles make thousands of network calls for little memory saved


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


@torch.inference_mode()
def upscale_tensor(net: nn.Module, x: torch.Tensor, tile: int = 0, tile_pad: int = 16) -> torch.Tensor:
    """net(x) for x [N, C, H, W] in [0, 1], run on tiles of `tile` input pixels (0: whole image) that each see
    `tile_pad` extra pixels of context on every side, then cropped and stitched (the Real-ESRGAN inference scheme).

    With tile_pad at least the network's receptive-field radius (in input pixels) the stitched result equals the
    untiled one up to float rounding. RRDBNet at scale 2 / 1 needs sides that are multiples of 2 / 4: the image is
    edge-padded to that and the output cropped back, and tile / tile_pad are rounded up to it.
    """
    if tile and tile < MIN_TILE:
        raise UserError(f"--tile {tile}: tiles must be at least {MIN_TILE} pixels (or 0 for no tiling)")
    if tile_pad < 0:
        raise UserError(f"--tile-pad {tile_pad}: must be >= 0")
    scale = int(net.scale)
    mult = int(getattr(net, "input_multiple", 1))
    n, _, h, w = x.shape
    ph, pw = _round_up(h, mult) - h, _round_up(w, mult) - w
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    H, W = x.shape[-2:]
    if not tile or (tile >= H and tile >= W):
        return net(x)[..., : h * scale, : w * scale]
    tile, tile_pad = _round_up(tile, mult), _round_up(tile_pad, mult)
    out: torch.Tensor | None = None
    for y0 in range(0, H, tile):
        y1 = min(y0 + tile, H)
        py0, py1 = max(y0 - tile_pad, 0), min(y1 + tile_pad, H)
        for x0 in range(0, W, tile):
            x1 = min(x0 + tile, W)
            px0, px1 = max(x0 - tile_pad, 0), min(x1 + tile_pad, W)
            part = net(x[..., py0:py1, px0:px1])
            if out is None:  # channel count and dtype known only after the first call
                out = part.new_empty(n, part.shape[1], H * scale, W * scale)
            oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
            out[..., y0 * scale:y1 * scale, x0 * scale:x1 * scale] = \
                part[..., oy:oy + (y1 - y0) * scale, ox:ox + (x1 - x0) * scale]
    assert out is not None
    return out[..., : h * scale, : w * scale]
