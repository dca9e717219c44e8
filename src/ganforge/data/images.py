"""Image folders and StyleGAN2-ADA/StyleGAN3 dataset zips (with optional dataset.json labels), read safely."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ganforge.data.dataset import DatasetError, ImageDataset

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm"}
MAX_ZIP_BYTES = 64 * 2**30  # cap on the total decompressed size of a dataset zip (zip-bomb guard)
MAX_MEMBER_BYTES = 256 * 2**20  # cap on one decompressed image


def _decode(data: bytes, name: str) -> np.ndarray:
    """Decode one image to uint8 HWC with 1 or 3 channels (CMYK, palette, 16-bit and alpha are converted)."""
    if not data:
        raise DatasetError(f"{name}: zero-byte file")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(img, dtype=np.float64)
                arr = arr / (65535.0 if arr.max() > 255 else 255.0) * 255.0
                return arr.round().clip(0, 255).astype(np.uint8)[:, :, None]
            if img.mode in ("L", "1"):
                return np.asarray(img.convert("L"))[:, :, None]
            if img.mode in ("LA",) or (img.mode == "P" and "transparency" in img.info) or img.mode == "RGBA":
                rgba = img.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))  # composite alpha over white
                return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DatasetError(f"{name}: cannot decode image ({e.__class__.__name__}: {e})") from e


def _safe_member(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    return not (p.is_absolute() or ".." in p.parts or (p.parts and p.parts[0].endswith(":")))


class _Source:
    """Uniform read access to a folder or a zip archive."""

    def __init__(self, path: Path):
        self.path = path
        self.zip = zipfile.ZipFile(path) if path.is_file() else None
        if self.zip is not None:
            bad = [i.filename for i in self.zip.infolist() if not _safe_member(i.filename)]
            if bad:
                raise DatasetError(f"{path}: unsafe member paths {bad[:3]} (absolute or with '..'); refusing the zip")
            total = sum(i.file_size for i in self.zip.infolist())
            if total > MAX_ZIP_BYTES:
                raise DatasetError(f"{path}: decompresses to {total / 2**30:.1f} GiB, over the {MAX_ZIP_BYTES >> 30} "
                                   "GiB cap; split the dataset")

    def names(self) -> list[str]:
        if self.zip is not None:
            return sorted(i.filename for i in self.zip.infolist() if not i.is_dir())
        return sorted(p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file())

    def read(self, name: str) -> bytes:
        if self.zip is not None:
            info = self.zip.getinfo(name)
            if info.file_size > MAX_MEMBER_BYTES:
                raise DatasetError(f"{self.path}:{name}: {info.file_size} bytes decompressed, over the cap")
            return self.zip.read(info)
        return (self.path / name).read_bytes()

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def _labels_from_json(src: _Source, files: list[str]) -> tuple[torch.Tensor | None, int]:
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


def _iter_decoded(src: _Source, files: list[str], skip_bad: bool,
                  skipped: list[str]) -> Iterator[tuple[str, np.ndarray]]:
    for f in files:
        try:
            yield f, _decode(src.read(f), f"{src.path}/{f}")
        except DatasetError:
            if not skip_bad:
                raise
            skipped.append(f)


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
    src = _Source(path)
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
