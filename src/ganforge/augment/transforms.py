"""Batched matrix builders and the three executors of the ADA-style pipeline (affine warp, colour, cutout).

Geometry uses StyleGAN2-ADA's convention (Karras et al. 2020, Appendix B): a 3x3 matrix per image in pixel
units with the origin at the image centre, mapping *output* pixel coordinates to *input* coordinates (G^-1).
Colour uses a 4x4 homogeneous matrix per image acting on RGB values in [-1, 1], where 0 is mid-grey.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def eye(n: int, batch: int, *, like: Tensor) -> Tensor:
    """[batch, n, n] identity matrices with the dtype/device of `like`."""
    return torch.eye(n, dtype=like.dtype, device=like.device).expand(batch, n, n).clone()


def _matrix(rows: list[list[Tensor | float]], *, like: Tensor) -> Tensor:
    """[B, R, C] matrices from per-image scalars [B] or Python floats; zero cells cost nothing."""
    m = torch.zeros(like.shape[0], len(rows), len(rows[0]), dtype=like.dtype, device=like.device)
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            if isinstance(v, Tensor) or v != 0:
                m[:, i, j] = v
    return m


def translate2d(tx: Tensor, ty: Tensor) -> Tensor:
    """[B, 3, 3] translation by (tx, ty) pixels."""
    return _matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]], like=tx)


def scale2d(sx: Tensor, sy: Tensor) -> Tensor:
    """[B, 3, 3] axis-aligned scaling about the image centre."""
    return _matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], like=sx)


def rotate2d(theta: Tensor) -> Tensor:
    """[B, 3, 3] counter-clockwise rotation by theta radians about the image centre."""
    return rotate2d_cs(torch.cos(theta), torch.sin(theta))


def rotate2d_cs(c: Tensor, s: Tensor) -> Tensor:
    """Rotation from cos/sin directly, so 90-degree steps can be built exactly."""
    return _matrix([[c, -s, 0], [s, c, 0], [0, 0, 1]], like=c)


def translate3d(tx: Tensor, ty: Tensor, tz: Tensor) -> Tensor:
    """[B, 4, 4] colour offset (brightness when tx = ty = tz)."""
    return _matrix([[1, 0, 0, tx], [0, 1, 0, ty], [0, 0, 1, tz], [0, 0, 0, 1]], like=tx)


def scale3d(sx: Tensor, sy: Tensor, sz: Tensor) -> Tensor:
    """[B, 4, 4] colour scaling about grey 0 (contrast when sx = sy = sz)."""
    return _matrix([[sx, 0, 0, 0], [0, sy, 0, 0], [0, 0, sz, 0], [0, 0, 0, 1]], like=sx)


def luma_axis(*, like: Tensor) -> Tensor:
    """The unit luma axis v = (1, 1, 1, 0) / sqrt(3) of StyleGAN2-ADA's colour transforms."""
    return torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=like.dtype, device=like.device) / math.sqrt(3.0)


def rotate3d(v: Tensor, theta: Tensor) -> Tensor:
    """[B, 4, 4] rotation by theta about the unit axis v[:3] (Rodrigues' formula); the hue rotation."""
    vx, vy, vz = v[0], v[1], v[2]
    s, c = torch.sin(theta), torch.cos(theta)
    cc = 1 - c
    return _matrix(
        [
            [vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
            [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
            [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
            [0, 0, 0, 1],
        ],
        like=theta,
    )


def non_identity(m: Tensor) -> Tensor:
    """Bool [B]: which matrices differ from the identity (untouched images are built as exact identities)."""
    n = m.shape[-1]
    return (m != torch.eye(n, dtype=m.dtype, device=m.device)).flatten(1).any(dim=1)


def apply_geometric(x: Tensor, g_inv: Tensor) -> Tensor:
    """Warp x [N, C, H, W] by per-image G^-1 [N, 3, 3] (output -> input pixels, centred) with one grid_sample.

    Bilinear sampling with reflection padding (mirror about the pixel edges); integer shifts, flips and
    90-degree rotations land on pixel centres and are exact up to float rounding.
    """
    n, _, h, w = x.shape
    # Normalised coords (align_corners=False) -> centred pixel coords: p = x_n * (W/2, H/2).
    to_pix = torch.diag(torch.tensor([w / 2.0, h / 2.0, 1.0], dtype=g_inv.dtype, device=g_inv.device))
    to_norm = torch.diag(torch.tensor([2.0 / w, 2.0 / h, 1.0], dtype=g_inv.dtype, device=g_inv.device))
    theta = (to_norm @ g_inv @ to_pix)[:, :2, :].to(x.dtype)
    grid = F.affine_grid(theta, [n, x.shape[1], h, w], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def apply_color(x: Tensor, c: Tensor) -> Tensor:
    """Apply per-image 4x4 colour matrices c [N, 4, 4] to x [N, C, H, W] with C in {1, 3}.

    One-channel images use the mean of the RGB rows (as StyleGAN2-ADA does), so a grey image stays grey.
    """
    n, ch, h, w = x.shape
    c = c.to(x.dtype)
    flat = x.reshape(n, ch, h * w)
    if ch == 3:
        out = c[:, :3, :3] @ flat + c[:, :3, 3:]
    elif ch == 1:
        g = c[:, :3, :].mean(dim=1, keepdim=True)
        out = flat * g[:, :, :3].sum(dim=2, keepdim=True) + g[:, :, 3:]
    else:
        raise ValueError(f"colour transforms need 1 or 3 channels, got {ch}")
    return out.reshape(n, ch, h, w)


def cutout_mask(center: Tensor, size: Tensor, h: int, w: int) -> Tensor:
    """[N, 1, H, W] keep-mask, 0 inside a square of side size*(W, H) around center (in [0, 1]^2), 1 elsewhere.

    DeVries & Taylor 2017 cutout as in StyleGAN2-ADA: a pixel is kept if its centre is at least size/2 away
    along x or along y. size = 0 keeps every pixel.
    """
    cx = center[:, 0].reshape(-1, 1, 1, 1)
    cy = center[:, 1].reshape(-1, 1, 1, 1)
    half = (size / 2).reshape(-1, 1, 1, 1)
    coord_x = (torch.arange(w, device=center.device, dtype=center.dtype).reshape(1, 1, 1, w) + 0.5) / w
    coord_y = (torch.arange(h, device=center.device, dtype=center.dtype).reshape(1, 1, h, 1) + 0.5) / h
    inside_x = ((coord_x - cx).abs() < half).to(center.dtype)
    inside_y = ((coord_y - cy).abs() < half).to(center.dtype)
    return 1 - inside_x * inside_y


def apply_to_subset(x: Tensor, which: Tensor, fn: Callable[..., Tensor], *args: Tensor) -> Tensor:
    """Run fn(x[which], *args[which]) and put the result back; unselected images pass through untouched.

    Saves the work for the (1 - p) share of images the pipeline leaves alone; differentiable w.r.t. x.
    """
    idx = which.nonzero().squeeze(1)
    if idx.numel() == 0:
        return x
    if idx.numel() == x.shape[0]:
        return fn(x, *args)
    out = fn(x.index_select(0, idx), *(a.index_select(0, idx) for a in args))
    return x.index_copy(0, idx, out)
