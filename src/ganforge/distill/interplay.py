"""Interplay of the objectives (SD-GAN Sec. 4.3, Figs. 6 and 8): G_ema samples ranked by L_SD and by D's logits.

For N latents: L_SD(G(z), G_ema(z)) (the un-augmented distance, LPIPS-VGG by default) and D(G_ema(z)). The `band`
samples with the largest L_SD form the top row, the `band` with the smallest the bottom row (paper: 200 of 10k);
within each row the `per_quadrant` lowest-D samples go left and the highest-D ones right (paper: 4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from ganforge.distill.trajectory import image_distance
from ganforge.training.load import load_discriminator, load_generator, resolve_checkpoint

__all__ = ["QUADRANTS", "InterplayResult", "interplay", "load_discriminator", "save_interplay_grid",
           "select_quadrants"]

# (row, column) order of the figure: top = larger L_SD, right = higher D logit ("more real")
QUADRANTS = ("high_sd_low_d", "high_sd_high_d", "low_sd_low_d", "low_sd_high_d")


@dataclass
class InterplayResult:
    """Per-latent L_SD and D logits, the chosen indices per quadrant, and those samples (uint8)."""

    l_sd: torch.Tensor  # [N]
    d_logits: torch.Tensor  # [N]
    quadrants: dict[str, list[int]]  # QUADRANTS -> latent indices, ordered by D logit (ascending)
    images: dict[str, torch.Tensor]  # QUADRANTS -> uint8 [k, C, H, W] of G_ema
    checkpoint: str
    distance: str

    def summary(self) -> dict:
        """JSON-ready numbers; correlations are None when either quantity is constant."""
        corr = float(torch.corrcoef(torch.stack([self.l_sd.double(), self.d_logits.double()]))[0, 1])
        return {"checkpoint": self.checkpoint, "distance": self.distance, "num": len(self.l_sd),
                "l_sd_mean": float(self.l_sd.mean()), "d_logit_mean": float(self.d_logits.mean()),
                "pearson_l_sd_d": corr if math.isfinite(corr) else None,
                "spearman_l_sd_d": _spearman(self.l_sd, self.d_logits),
                "quadrants": {q: {"index": idx, "l_sd": [float(self.l_sd[i]) for i in idx],
                                  "d_logit": [float(self.d_logits[i]) for i in idx]}
                              for q, idx in self.quadrants.items()}}


def _spearman(a: torch.Tensor, b: torch.Tensor) -> float | None:
    if bool((a == a[0]).all()) or bool((b == b[0]).all()):
        return None
    ranks = torch.stack([a.argsort().argsort().double(), b.argsort().argsort().double()])
    return float(torch.corrcoef(ranks)[0, 1])


def select_quadrants(l_sd: torch.Tensor, d_logits: torch.Tensor, band: int, per_quadrant: int
                     ) -> dict[str, list[int]]:
    """Top/bottom `band` by L_SD, then the `per_quadrant` lowest/highest D logits within each band."""
    n = len(l_sd)
    if len(d_logits) != n:
        raise ValueError(f"{n} L_SD values but {len(d_logits)} logits")
    if not per_quadrant <= band <= n // 2:
        raise ValueError(f"need per_quadrant ({per_quadrant}) <= band ({band}) <= N/2 ({n // 2})")
    order = l_sd.argsort()
    rows = {"high_sd": order[-band:], "low_sd": order[:band]}
    out = {}
    for row, idx in rows.items():
        by_d = idx[d_logits[idx].argsort()]
        out[f"{row}_low_d"] = by_d[:per_quadrant].tolist()
        out[f"{row}_high_d"] = by_d[-per_quadrant:].tolist()
    return {q: out[q] for q in QUADRANTS}


@torch.no_grad()
def interplay(path: str | Path, num: int = 2000, band: int | None = None, per_quadrant: int = 4,
              distance: str = "lpips-vgg", seed: int = 0, batch_size: int = 64,
              device: torch.device | str = "cpu", weights: str | None = None) -> InterplayResult:
    """Figs. 6/8 for the latest checkpoint of a run (or a checkpoint directory); band defaults to 2% of num."""
    from ganforge.data import to_uint8
    from ganforge.metrics.sampling import eval_latents

    device = torch.device(device)
    c_path = resolve_checkpoint(path)
    G = load_generator(c_path, device=device, ema=False)
    G_ema = load_generator(c_path, device=device, ema=True)
    D = load_discriminator(c_path, device)
    band = band if band is not None else max(2 * per_quadrant, round(0.02 * num))
    dist = image_distance(distance, device, weights)
    z, c = eval_latents(num, G.z_dim, G.num_classes, seed)
    l_sd, logits, images = [], [], []
    for i in range(0, num, batch_size):
        zz = z[i:i + batch_size].to(device)
        cc = None if c is None else c[i:i + batch_size].to(device)
        student, teacher = G(zz, cc), G_ema(zz, cc)
        l_sd.append(dist.per_sample(student, teacher).float().cpu())
        logits.append(D(teacher, cc).float().cpu())
        images.append(to_uint8(teacher).cpu())
    l_sd_t, logits_t, all_images = torch.cat(l_sd), torch.cat(logits), torch.cat(images)
    quads = select_quadrants(l_sd_t, logits_t, band, per_quadrant)
    return InterplayResult(l_sd_t, logits_t, quads, {q: all_images[idx] for q, idx in quads.items()},
                           c_path.name, distance)


def _tile(img: torch.Tensor, scale: int) -> Image.Image:
    arr = img.permute(1, 2, 0).numpy()
    pil = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr).convert("RGB")
    return pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)


def save_interplay_grid(result: InterplayResult, path: str | Path, scale: int | None = None) -> Path:
    """The quadrant figure (Fig. 8 style): D logit above and L_SD below each sample."""
    first = next(iter(result.images.values()))
    k, h = first.shape[0], first.shape[-1]
    scale = scale or max(1, math.ceil(96 / h))
    side = h * scale
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    font = ImageFont.load_default()
    cell_w, cell_h, text_h, gap, left, top = side + 8, side + 30, 12, 24, 48, 24
    quad_w, quad_h = cols * cell_w, rows * cell_h
    canvas = Image.new("RGB", (left + 2 * quad_w + gap, top + 2 * quad_h + gap), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((left, 4), "<- lower D logit (less real)", fill="black", font=font)
    draw.text((left + quad_w + gap, 4), "higher D logit (more real) ->", fill="black", font=font)
    for qi, q in enumerate(QUADRANTS):
        qr, qc = divmod(qi, 2)
        x0, y0 = left + qc * (quad_w + gap), top + qr * (quad_h + gap)
        for j, idx in enumerate(result.quadrants[q]):
            r, c = divmod(j, cols)
            x, y = x0 + c * cell_w, y0 + r * cell_h
            draw.text((x, y), f"D={float(result.d_logits[idx]):+.2f}", fill="black", font=font)
            canvas.paste(_tile(result.images[q][j], scale), (x, y + text_h))
            draw.text((x, y + text_h + side + 1), f"L_SD={float(result.l_sd[idx]):.4f}", fill="black", font=font)
    for r, label in enumerate(("high", "low")):
        draw.text((4, top + r * (quad_h + gap)), f"L_SD\n{label}", fill="black", font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
