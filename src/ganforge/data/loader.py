"""load_dataset: one entry point from a name or a path to an in-memory ImageDataset."""

from __future__ import annotations

import torch

from ganforge.data import builtin
from ganforge.data.dataset import DatasetError, ImageDataset
from ganforge.data.images import load_images

BUILTIN = ("mnist5k", "stacked-mnist", "digits", "fashion-mnist")
# the data the R3GAN presets name, and what to give instead (README "Presets")
_ZIP = "a folder with one sub-folder per class or a StyleGAN dataset zip with dataset.json labels"
NOT_BUILT_IN = {
    "mnist": "use mnist5k (5,000 real digits, offline), or export MNIST as 32x32 PNGs in " + _ZIP,
    "cifar10": "the cifar10 preset needs CIFAR-10's 32x32 images (class-conditional) as " + _ZIP,
    "ffhq": "the ffhq256 preset needs FFHQ's images at 256x256 as an image folder or a StyleGAN dataset zip",
    "imagenet": "the imagenet32 preset needs ImageNet downsampled to 32x32 with its 1000 classes as " + _ZIP,
}


def load_dataset(spec: str, *, xflip: bool = False, root: str | None = None, size: int | None = None,
                 seed: int = 0, skip_bad: bool = False, resolution: int | None = None,
                 max_images: int | None = None, labels: str = "auto") -> ImageDataset:
    """Name ("mnist5k", "stacked-mnist", "digits", "fashion-mnist[:DIR]") or path (image folder / StyleGAN zip).

    xflip doubles the dataset with mirrored copies; max_images keeps a fixed random subset (seeded).
    """
    name, _, arg = spec.partition(":")
    if name == "mnist5k":
        ds = builtin.mnist5k()
    elif name == "stacked-mnist":
        ds = builtin.stacked_mnist(size=size or 50_000, seed=seed)
    elif name == "digits":
        ds = builtin.digits()
    elif name == "fashion-mnist":
        ds = builtin.fashion_mnist(root or arg or None)
    elif name in NOT_BUILT_IN:
        raise DatasetError(f"'{spec}' is not built in (ganforge downloads nothing): {NOT_BUILT_IN[name]}, and "
                           "pass its path with --data PATH (built-ins: " + ", ".join(BUILTIN) + ")")
    else:
        ds = load_images(spec, labels=labels, skip_bad=skip_bad, resolution=resolution)
    if resolution is not None and ds.resolution != resolution:
        ds = ImageDataset(torch.nn.functional.interpolate(ds.images.float(), size=(resolution, resolution),
                                                          mode="area").round().clamp(0, 255).to(torch.uint8),
                          ds.labels, ds.num_classes, f"{ds.name}@{resolution}", ds.source, ds.skipped)
    if max_images is not None:
        ds = ds.subset(max_images, seed=seed)
    if xflip:
        labels_ = None if ds.labels is None else torch.cat([ds.labels, ds.labels])
        ds = ImageDataset(torch.cat([ds.images, ds.images.flip(-1)]), labels_, ds.num_classes, f"{ds.name}+xflip",
                          ds.source, ds.skipped)
    return ds
