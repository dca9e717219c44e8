"""Image folders and StyleGAN2-ADA/StyleGAN3 dataset zips (with optional dataset.json labels), read safely."""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ganforge.data.dataset import DatasetError, ImageDataset
from ganforge.limits import hint, limit

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm"}
GREY_MODES = ("1", "L", "I", "F", "I;16", "I;16B", "I;16L", "I;16N")


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode one image to uint8 HWC with 1 or 3 channels (CMYK, palette, 16-bit and alpha are converted)."""
    if not data:
        raise DatasetError(f"{name}: zero-byte file")
    try:
        with Image.open(io.BytesIO(data)) as img:
            _check_pixels(img, name)
            img.load()
            if img.mode.startswith("I;16") or img.mode == "I":
                arr = np.asarray(img, dtype=np.float64) / (2.0 ** _bit_depth(img) - 1.0) * 255.0
                return arr.round().clip(0, 255).astype(np.uint8)[:, :, None]
            if img.mode in ("L", "1"):
                return np.asarray(img.convert("L"))[:, :, None]
            if img.mode in ("LA",) or (img.mode == "P" and "transparency" in img.info) or img.mode == "RGBA":
                rgba = img.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))  # composite alpha over white
                return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
            return np.asarray(img.convert("RGB"))
    except Image.DecompressionBombError as e:
        raise DatasetError(f"{name}: {e}; {hint('MAX_IMAGE_PIXELS')} if the file is trusted") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DatasetError(f"{name}: cannot decode image ({e.__class__.__name__}: {e})") from e


def _check_pixels(img: Image.Image, name: str) -> None:
    """Refuse an image whose header claims more pixels than the limit, before anything is decoded."""
    w, h = img.size
    if w * h > limit("MAX_IMAGE_PIXELS"):
        raise DatasetError(f"{name}: {w}x{h} pixels, over the limit for one image (a decompression bomb?); "
                           f"{hint('MAX_IMAGE_PIXELS')} if the file is trusted")


def _bit_depth(img: Image.Image) -> int:
    """Bits per sample of an integer grey image, from the file format, never from the pixel values: a dark
    16-bit image stays dark. PNG/PGM/16-bit TIFF open as I;16 or I with 16 bits (Pillow scales PGM to 16)."""
    if img.mode.startswith("I;16"):
        return 16
    bits = getattr(img, "tag_v2", {}).get(258) if img.format == "TIFF" else None
    return int(bits[0] if isinstance(bits, tuple) else bits) if bits else 16


def _safe_member(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    return not (p.is_absolute() or ".." in p.parts or (p.parts and p.parts[0].endswith(":")))


def _open_zip(path: Path) -> zipfile.ZipFile:
    """A dataset zip, or a one-line error for a single image, a truncated zip or another kind of file."""
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        raise DatasetError(f"{path} is a single image; give a folder of images or a dataset zip (put the image(s) "
                           "in a folder and pass the folder)")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise DatasetError(f"{path}: not a readable zip archive ({e}); if it was cut short, copy or create it again "
                           "(python -m zipfile -c data.zip images/), or give an image folder") from e


class ImageSource:
    """Uniform read access to a folder or a zip archive."""

    def __init__(self, path: Path):
        self.path = path
        self.zip = _open_zip(path) if path.is_file() else None
        if self.zip is not None:
            bad = [i.filename for i in self.zip.infolist() if not _safe_member(i.filename)]
            if bad:
                self.zip.close()
                raise DatasetError(f"{path}: unsafe member paths {bad[:3]} (absolute or with '..'); refusing the zip")
            total = sum(i.file_size for i in self.zip.infolist())
            if total > limit("MAX_ZIP_BYTES"):
                self.zip.close()
                raise DatasetError(f"{path}: decompresses to {total / 2**30:.1f} GiB; split the dataset or "
                                   f"{hint('MAX_ZIP_BYTES')}")

    def names(self) -> list[str]:
        if self.zip is not None:
            return sorted(i.filename for i in self.zip.infolist() if not i.is_dir())
        return sorted(p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file())

    def read(self, name: str) -> bytes:
        """The bytes of one member or file; read and decompression errors name it."""
        try:
            if self.zip is not None:
                info = self.zip.getinfo(name)
                if info.file_size > limit("MAX_MEMBER_BYTES"):
                    raise DatasetError(f"{self.path}:{name}: {info.file_size} bytes decompressed; "
                                       f"{hint('MAX_MEMBER_BYTES')}")
                return self.zip.read(info)
            return (self.path / name).read_bytes()
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
            raise DatasetError(f"{self.path}/{name}: cannot read ({e.__class__.__name__}: {e}); the file or zip is "
                               "damaged, re-create it") from e

    def header(self, name: str) -> tuple[int, int, str]:
        """(width, height, mode) from the image header only, without decoding the pixels."""
        where = f"{self.path}/{name}"
        try:
            size = self.zip.getinfo(name).file_size if self.zip is not None else (self.path / name).stat().st_size
            if size == 0:
                raise DatasetError(f"{where}: zero-byte file")
            stream = self.zip.open(name) if self.zip is not None else open(self.path / name, "rb")  # noqa: SIM115
            with stream, Image.open(stream) as img:
                _check_pixels(img, where)
                return img.size[0], img.size[1], img.mode
        except Image.DecompressionBombError as e:
            raise DatasetError(f"{where}: {e}; {hint('MAX_IMAGE_PIXELS')} if the file is trusted") from None
        except (UnidentifiedImageError, zipfile.BadZipFile, zlib.error, EOFError, OSError, SyntaxError,
                ValueError) as e:
            raise DatasetError(f"{where}: cannot decode image ({e.__class__.__name__}: {e})") from e

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def _labels_from_json(src: ImageSource, files: list[str]) -> tuple[torch.Tensor | None, int]:
    """dataset.json: {"labels": [[filename, label], ...]} or {"labels": null}, as StyleGAN's dataset_tool writes."""
    try:
        meta = json.loads(src.read("dataset.json"))
    except json.JSONDecodeError as e:
        raise DatasetError(f"{src.path}/dataset.json: not valid JSON ({e})") from e
    raw = meta.get("labels") if isinstance(meta, dict) else None
    if raw is None:
        return None, 0
    if not isinstance(raw, list):
        raise DatasetError(f"{src.path}/dataset.json: 'labels' must be a list of [filename, label] pairs")
    table: dict[str, int] = {}
    for entry in raw:
        if (not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str)
                or isinstance(entry[1], bool) or not isinstance(entry[1], int)):
            raise DatasetError(f"{src.path}/dataset.json: malformed label entry {entry!r}; expected "
                               "[\"relative/path.png\", integer_class]")
        table[entry[0]] = entry[1]
    missing = [f for f in table if f not in set(files)]
    if missing:
        raise DatasetError(f"{src.path}/dataset.json names {len(missing)} files that are not in the dataset, "
                           f"e.g. {missing[:3]}")
    unlabeled = [f for f in files if f not in table]
    if unlabeled:
        raise DatasetError(f"{src.path}/dataset.json has no label for {len(unlabeled)} images, e.g. {unlabeled[:3]}")
    labels = torch.tensor([table[f] for f in files], dtype=torch.long)
    if int(labels.min()) < 0:
        raise DatasetError(f"{src.path}/dataset.json: negative labels; classes must be 0..K-1")
    return labels, int(labels.max()) + 1


def _iter_decoded(src: ImageSource, files: list[str], skip_bad: bool,
                  skipped: list[str]) -> Iterator[tuple[str, np.ndarray]]:
    for f in files:
        try:
            yield f, decode_image(src.read(f), f"{src.path}/{f}")
        except DatasetError:
            if not skip_bad:
                raise
            skipped.append(f)


def _check_headers(src: ImageSource, files: list[str], resolution: int | None, skip_bad: bool,
                   skipped: list[str]) -> list[str]:
    """Sizes, shapes and the total decoded size from the image headers, before any pixel is decoded."""
    sizes: dict[tuple[int, int], str] = {}
    readable, colour = [], False
    for f in files:
        try:
            w, h, mode = src.header(f)
        except DatasetError:
            if not skip_bad:
                raise
            skipped.append(f)
            continue
        readable.append(f)
        sizes.setdefault((w, h), f)
        colour = colour or mode not in GREY_MODES
    if not readable:
        raise DatasetError(f"{src.path}: none of the {len(files)} images could be read")
    if resolution is None:
        if len(sizes) > 1:
            shown = ", ".join(f"{w}x{h} ({f})" for (w, h), f in list(sizes.items())[:3])
            raise DatasetError(f"{src.path}: images have mixed sizes, e.g. {shown}; pass --resolution N "
                               "(API: resolution=N) to resize them all, or fix the files")
        (w, h), example = next(iter(sizes.items()))
        if w != h or w & (w - 1):
            raise DatasetError(f"{src.path}: images are {w}x{h} (e.g. {example}); ganforge needs square images "
                               "with a power-of-two side: pass --resolution N (e.g. 256) to resize them")
        side = w
    else:
        side = resolution
    need = len(readable) * side * side * (3 if colour else 1)
    if need > limit("MAX_DATASET_BYTES"):
        raise DatasetError(f"{src.path}: {len(readable)} images of {side}x{side} need {need / 2**30:.1f} GiB decoded; "
                           f"use a smaller --resolution or data_size, or {hint('MAX_DATASET_BYTES')}")
    return readable


def load_images(path: str | Path, labels: str = "auto", skip_bad: bool = False,
                resolution: int | None = None) -> ImageDataset:
    """Read an image folder (recursive) or a StyleGAN-style zip/folder.

    labels: "auto" (dataset.json if present, else sub-folder names when there are several), "json", "folders",
    or "none". skip_bad skips unreadable images and records them in `skipped` instead of failing fast.
    resolution, if given, resizes every image (Lanczos) so mixed sizes become usable.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder (give an image folder, a dataset zip, or a built-in "
                           "name: mnist5k, stacked-mnist, digits, fashion-mnist)")
    src = ImageSource(path)
    try:
        all_names = src.names()
        files = [f for f in all_names if PurePosixPath(f).suffix.lower() in IMAGE_EXTENSIONS]
        if not files:
            raise DatasetError(f"{path}: no images found (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
        label_t, num_classes = None, 0
        if labels in ("auto", "json") and "dataset.json" in all_names:
            label_t, num_classes = _labels_from_json(src, files)
        elif labels == "json":
            raise DatasetError(f"{path}: labels='json' but there is no dataset.json")
        elif labels in ("auto", "folders"):
            dirs = sorted({PurePosixPath(f).parent.as_posix() for f in files})
            if len(dirs) > 1 or labels == "folders":
                index = {d: i for i, d in enumerate(dirs)}
                label_t = torch.tensor([index[PurePosixPath(f).parent.as_posix()] for f in files])
                num_classes = len(dirs)
        skipped: list[str] = []
        files = _check_headers(src, files, resolution, skip_bad, skipped)
        kept, arrays = [], []
        for f, arr in _iter_decoded(src, files, skip_bad, skipped):
            if resolution is not None and arr.shape[:2] != (resolution, resolution):
                mode = "L" if arr.shape[2] == 1 else "RGB"
                img = Image.fromarray(arr[:, :, 0] if mode == "L" else arr, mode)
                resized = img.resize((resolution, resolution), Image.LANCZOS)
                arr = np.asarray(resized).reshape(resolution, resolution, -1)
            kept.append(f)
            arrays.append(arr)
    finally:
        src.close()
    if not arrays:
        raise DatasetError(f"{path}: none of the {len(files)} images could be read")
    sizes = {a.shape[:2] for a in arrays}
    if len(sizes) > 1:
        examples = {a.shape[:2]: f for f, a in zip(kept, arrays)}
        raise DatasetError(f"{path}: images have mixed sizes {sorted(sizes)[:4]} (e.g. {list(examples.values())[:3]}); "
                           "pass resolution=N (CLI: --resolution N) to resize them all, or fix the files")
    channels = 3 if any(a.shape[2] == 3 for a in arrays) else 1
    stacked = np.stack([np.repeat(a, 3, axis=2) if a.shape[2] != channels else a for a in arrays])
    images = torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous()
    if label_t is not None and skipped:
        keep = set(kept)
        label_t = label_t[[i for i, f in enumerate(files) if f in keep]]
    return ImageDataset(images, label_t, num_classes, path.stem, str(path.resolve()), skipped)
