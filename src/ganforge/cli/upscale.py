"""`ganforge upscale`: super-resolve an image or a folder of images with an SR generator (official Real-ESRGAN .pth or
ganforge .safetensors), tiled so large images fit in memory; writes PNGs, keeping alpha, grey and 16-bit depth."""

from __future__ import annotations

import argparse
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from ganforge.cli.args import at_most, device, existing_path, non_negative_int, positive_float
from ganforge.errors import UserError
from ganforge.limits import hint, limit
from ganforge.networks.sr.inference import MIN_TILE, upscale_tensor
from ganforge.networks.sr.weights import load_sr_generator
from ganforge.training.trainer import resolve_device

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LUMA = (0.299, 0.587, 0.114)  # RGB -> grey for grey inputs run through an RGB network (as Real-ESRGAN's cv2 call)
MAX_OUTSCALE = 64.0


@dataclass
class Picture:
    """One decoded image: colour [1, 1 or 3, H, W] and alpha [1, 1, H, W] (or None) in [0, 1]; 8 or 16 bits."""

    color: torch.Tensor
    alpha: torch.Tensor | None
    bits: int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("upscale", help="super-resolve images with a Real-ESRGAN / ganforge SR generator")
    p.add_argument("input", type=existing_path, help="an image (png, jpg, jpeg, bmp, tif, tiff, webp) or a folder")
    p.add_argument("output", help="output .png for one image; output folder for a folder")
    p.add_argument("--weights", required=True, type=existing_path,
                   help="generator weights: official .pth (e.g. RealESRGAN_x4plus.pth), ganforge .safetensors, "
                        "or an SR run directory")
    p.add_argument("--tile", type=non_negative_int, default=256, help="tile side in input pixels; 0 = whole image")
    p.add_argument("--tile-pad", type=non_negative_int, default=16, help="context pixels around each tile")
    p.add_argument("--outscale", type=at_most(positive_float, MAX_OUTSCALE),
                   help="final scale factor (resized bicubically from the network's own scale)")
    p.add_argument("--alpha", choices=("bicubic", "net"), default="bicubic",
                   help="upscale an alpha channel bicubically (default) or with the network as a grey image")
    p.add_argument("--act-type", choices=("relu", "leakyrelu"),
                   help="activation of an SRVGGNetCompact .pth without PReLU weights")
    p.add_argument("--device", type=device, default="cpu", help="cpu, cuda, cuda:N, mps or auto")
    p.set_defaults(func=run)


def _jobs(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    """(input, output) pairs: one image to a .png (or into an existing folder), or a folder's images to a folder."""
    if src.is_file():
        if dst.is_dir():
            dst = dst / f"{src.stem}.png"
        if dst.suffix.lower() != ".png":
            raise UserError(f"{dst}: outputs are PNG; end the output name in .png")
        if dst.resolve() == src.resolve():
            raise UserError(f"{dst}: this is the input image; choose another output name")
        return [(src, dst)]
    if dst.exists() and not dst.is_dir():
        raise UserError(f"{dst}: the input is a folder, so the output must be a folder too; choose another path")
    if dst.resolve() == src.resolve():
        raise UserError(f"{dst}: this is the input folder; choose another output folder")
    files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)
    if not files:
        raise UserError(f"{src}: no images ({', '.join(EXTENSIONS)}) in this folder")
    seen: dict[str, Path] = {}
    for f in files:
        if f.stem in seen:
            raise UserError(f"{seen[f.stem].name} and {f.name} would both be written to {f.stem}.png; rename one")
        seen[f.stem] = f
    return [(f, dst / f"{f.stem}.png") for f in files]


def read_image(path: Path) -> Picture:
    """Decode an image; 16-bit PNGs (any colour type) through torchvision's libpng, the rest through Pillow.
    The pixel count is checked from the header before anything is decoded."""
    try:
        with open(path, "rb") as f:
            head = f.read(26)
        with Image.open(path) as img:
            w, h = img.size
            if w * h > limit("MAX_IMAGE_PIXELS"):
                raise UserError(f"{path}: {w}x{h} pixels, over the limit for one image; {hint('MAX_IMAGE_PIXELS')} "
                                "if the file is trusted")
            if head[:8] == PNG_SIGNATURE and head[24] == 16:  # IHDR bit depth: Pillow would reduce RGB to 8 bits
                data = _decode_png16(path)
                if data is not None:
                    return _split(data.to(torch.float32)[None] / 65535.0, 16)
            img.load()
            return _from_pil(img)
    except UserError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError,
            RuntimeError) as e:
        raise UserError(f"{path}: cannot read this image ({type(e).__name__}: {str(e)[:120]}); give a PNG, JPEG, "
                        "BMP, TIFF or WebP file") from None


def _decode_png16(path: Path) -> torch.Tensor | None:
    """uint16 [C, H, W] through torchvision's libpng decoder, or None where torchvision no longer ships it (it is
    deprecated since torchvision 0.29 in favour of TorchCodec): Pillow then reads the file, RGB at 8 bits only."""
    try:
        from torchvision.io import ImageReadMode, decode_png, read_file
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The image decoding", category=DeprecationWarning)
        return decode_png(read_file(str(path)), mode=ImageReadMode.UNCHANGED)


def _from_pil(img: Image.Image) -> Picture:
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":  # 16-bit grey (TIFF, PGM)
        return _split(torch.from_numpy(np.asarray(img, dtype=np.float32) / 65535.0).clamp(0, 1)[None, None], 16)
    if mode in ("1", "L", "F"):
        target = "L"
    elif mode in ("LA", "La"):
        target = "LA"
    elif mode in ("RGBA", "RGBa", "PA") or (mode == "P" and "transparency" in img.info):
        target = "RGBA"
    else:
        target = "RGB"
    arr = np.asarray(img.convert(target), dtype=np.float32) / 255.0
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    return _split(torch.from_numpy(arr).permute(2, 0, 1)[None], 8)


def _split(x: torch.Tensor, bits: int) -> Picture:
    c = x.shape[1]
    return Picture(x[:, : 3 if c >= 3 else 1].contiguous(), x[:, c - 1:] if c in (2, 4) else None, bits)


def write_png(x: torch.Tensor, bits: int, path: Path) -> None:
    """[1, C, H, W] in [0, 1] -> PNG of C = 1 (grey), 2 (grey + alpha), 3 or 4 channels and `bits` depth; written to a
    temporary file and renamed so a failed write leaves nothing half-written."""
    arr = x[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if bits == 16:
            tmp.write_bytes(_png16((arr * 65535.0).round().astype(np.uint16)))
        else:
            img8 = (arr * 255.0).round().astype(np.uint8)
            Image.fromarray(img8[:, :, 0] if img8.shape[2] == 1 else img8).save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _png16(arr: np.ndarray) -> bytes:
    """A 16-bit PNG (Pillow writes 16-bit grey only): IHDR, filter-0 scanlines in zlib IDAT chunks, IEND (PNG spec)."""
    h, w, c = arr.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = np.zeros((h, 1 + w * c * 2), np.uint8)  # leading 0 per row: filter type None
    raw[:, 1:] = arr.astype(">u2").reshape(h, w * c).view(np.uint8)
    data = zlib.compress(raw.tobytes(), 6)

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    step = 1 << 30  # a chunk holds < 2^31 bytes
    idat = b"".join(chunk(b"IDAT", data[i:i + step]) for i in range(0, max(len(data), 1), step))
    return PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)) + idat + \
        chunk(b"IEND", b"")


def _run_net(net: torch.nn.Module, x: torch.Tensor, args: argparse.Namespace) -> torch.Tensor:
    """The network on a colour or grey image: grey through an RGB net is replicated and turned back to grey; an RGB
    image through a grey net runs channel by channel."""
    cin = net.cfg.num_in_ch
    if cin == x.shape[1]:
        return upscale_tensor(net, x, args.tile, args.tile_pad)
    if cin == 3 and x.shape[1] == 1:
        y = upscale_tensor(net, x.expand(-1, 3, -1, -1), args.tile, args.tile_pad)
        return (y * torch.tensor(LUMA, dtype=y.dtype, device=y.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    if cin == 1:
        return torch.cat([upscale_tensor(net, x[:, i:i + 1], args.tile, args.tile_pad) for i in range(x.shape[1])], 1)
    raise UserError(f"--weights: the network takes {cin} channels; ganforge upscale handles 1 (grey) or 3 (RGB)")


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def upscale_file(net: torch.nn.Module, src: Path, dst: Path, args: argparse.Namespace, dev: torch.device) -> None:
    """Read, check the output size, upscale colour (and alpha), resize to --outscale, write."""
    pic = read_image(src)
    scale = net.cfg.scale
    h, w = pic.color.shape[-2:]
    outscale = args.outscale or scale
    size = (max(1, round(h * outscale)), max(1, round(w * outscale)))
    channels = pic.color.shape[1] + (pic.alpha is not None)
    need = 4 * channels * max(h * scale * w * scale, size[0] * size[1])
    if need > limit("MAX_SAMPLE_BYTES"):
        raise UserError(f"{src}: a {w}x{h} image upscaled to {size[1]}x{size[0]} needs {need / 2**30:.1f} GiB; use a "
                        f"smaller --outscale or {hint('MAX_SAMPLE_BYTES')}")
    color = _resize(_run_net(net, pic.color.to(dev), args).clamp(0, 1), size)
    planes = [color]
    if pic.alpha is not None:
        a = pic.alpha.to(dev)
        if args.alpha == "net":
            a = _run_net(net, a, args).clamp(0, 1)
        else:
            a = F.interpolate(a, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)
        planes.append(_resize(a, size))
    write_png(torch.cat(planes, 1), pic.bits, dst)


def run(args: argparse.Namespace) -> int:
    if args.tile and args.tile < MIN_TILE:
        raise UserError(f"--tile {args.tile}: tiles must be at least {MIN_TILE} pixels (or 0 for the whole image)")
    jobs = _jobs(Path(args.input), Path(args.output))
    net = load_sr_generator(args.weights, act_type=args.act_type)
    dev = resolve_device(args.device)
    net = net.to(dev).eval()
    for src, dst in jobs:
        upscale_file(net, src, dst, args, dev)
        print(f"wrote {dst}")
    return 0
