"""Official Real-ESRGAN / BasicSR `.pth` files (architecture and sizes inferred from the tensors, loaded strictly)
and ganforge's own format: safetensors weights with the JSON network config in the file's metadata."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ganforge.errors import UserError
from ganforge.limits import hint, limit
from ganforge.networks.sr.config import SRDiscConfig, SRNetConfig, build_sr_discriminator, build_sr_generator
from ganforge.networks.sr.rrdb import UNSHUFFLE
from ganforge.networks.sr.srvgg import ActType

SRFileArch = Literal["srvgg", "rrdb", "unetd"]
SR_FORMAT = "ganforge-sr-v1"
_FIX = "give an unmodified Real-ESRGAN / BasicSR release file (.pth) or a ganforge SR .safetensors"


def load_official_sr(path: str | os.PathLike, arch: SRFileArch | None = None, *, act_type: ActType | None = None,
                     skip_connection: bool = True) -> nn.Module:
    """An SRVGGNetCompact, RRDBNet or UNetDiscriminatorSN in eval mode, built from the sizes an official file's tensors
    imply and loaded strictly. `params_ema` is preferred over `params` (as Real-ESRGAN's inference does).

    `act_type` is needed only for an SRVGGNetCompact without PReLU (ReLU and LeakyReLU leave no weights to tell them
    apart); `skip_connection` cannot be seen in a discriminator's weights either (Real-ESRGAN trains with it on).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; check the path of the weights")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a pickle needing code, a truncated zip, a text file, ...: never executed
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
        raise UserError(f"{path}: not a weights file torch.load can read safely ({type(e).__name__}: {first}); "
                        f"{_FIX}") from None
    sd = _state_dict(obj, path)
    cfg = infer_sr_config(sd, arch, act_type=act_type, skip_connection=skip_connection, where=str(path))
    return _build_and_load(cfg, sd, str(path))


def _state_dict(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """`params_ema`, else `params`, else the object itself, as a str -> Tensor dict (BasicSR's `module.` stripped)."""
    if isinstance(obj, Mapping):
        for key in ("params_ema", "params"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        what = f"keys {', '.join(map(str, list(obj)[:4]))}" if isinstance(obj, Mapping) else type(obj).__name__
        raise UserError(f"{path}: not a network state dict (found {what}); {_FIX}")
    sd = dict(obj)
    if all(k.startswith("module.") for k in sd):  # saved from a DataParallel wrapper
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def _shape(sd: Mapping[str, torch.Tensor], key: str, ndim: int, where: str) -> tuple[int, ...]:
    if key not in sd:
        raise UserError(f"{where}: key '{key}' is missing; {_FIX}")
    shape = tuple(sd[key].shape)
    if len(shape) != ndim:
        raise UserError(f"{where}: '{key}' has shape {shape}, expected {ndim} dimensions; {_FIX}")
    return shape


def detect_arch(sd: Mapping[str, torch.Tensor], where: str = "weights") -> SRFileArch:
    """Which network an official state dict belongs to, from its key names."""
    if "conv_first.weight" in sd:
        return "rrdb"
    if "conv0.weight" in sd and "conv1.weight_orig" in sd:
        return "unetd"
    if "body.0.weight" in sd:
        return "srvgg"
    hint_old = " (old ESRGAN key names: convert it with BasicSR's model-conversion script)" if any(
        k.startswith(("model.", "RRDB_trunk.")) for k in sd) else ""
    raise UserError(f"{where}: not an SRVGGNetCompact, RRDBNet or UNetDiscriminatorSN state dict (first keys "
                    f"{', '.join(list(sd)[:3])}){hint_old}; {_FIX}")


def infer_sr_config(sd: Mapping[str, torch.Tensor], arch: SRFileArch | None = None, *, act_type: ActType | None = None,
                    skip_connection: bool = True, where: str = "weights") -> SRNetConfig | SRDiscConfig:
    """The network config an official state dict implies (num_out_ch = num_in_ch, as in every Real-ESRGAN release)."""
    found = detect_arch(sd, where)
    if arch is not None and arch != found:
        raise UserError(f"{where}: holds a {found} network, not {arch}; drop the architecture or give a {arch} file")
    if found == "unetd":
        feat, cin = _shape(sd, "conv0.weight", 4, where)[:2]
        return SRDiscConfig(num_in_ch=cin, num_feat=feat, skip_connection=skip_connection)
    if found == "rrdb":
        feat, cin_eff = _shape(sd, "conv_first.weight", 4, where)[:2]
        cout = _shape(sd, "conv_last.weight", 4, where)[0]
        scale = {r * r: s for s, r in UNSHUFFLE.items()}.get(cin_eff // cout if cin_eff % cout == 0 else 0)
        if scale is None:
            raise UserError(f"{where}: conv_first takes {cin_eff} channels for {cout} output channels; RRDBNet needs "
                            f"1x, 4x or 16x (scale 4, 2, 1); {_FIX}")
        blocks = {int(m.group(1)) for k in sd if (m := re.fullmatch(r"body\.(\d+)\.rdb1\.conv1\.weight", k))}
        grow = _shape(sd, "body.0.rdb1.conv1.weight", 4, where)[0]
        return SRNetConfig(arch="rrdb", num_in_ch=cout, num_out_ch=cout, num_feat=feat, scale=scale,
                           num_block=max(blocks) + 1, num_grow_ch=grow)
    convs = sorted(int(m.group(1)) for k, v in sd.items()
                   if (m := re.fullmatch(r"body\.(\d+)\.weight", k)) and v.ndim == 4)
    if len(convs) < 2 or convs != list(range(0, 2 * len(convs), 2)):
        raise UserError(f"{where}: SRVGGNetCompact convolutions must be body.0, body.2, body.4, ...; found body."
                        f"{', body.'.join(map(str, convs[:6]))}; {_FIX}")
    feat, cin = _shape(sd, "body.0.weight", 4, where)[:2]
    last = _shape(sd, f"body.{convs[-1]}.weight", 4, where)[0]
    up = math.isqrt(last // cin) if last % cin == 0 else 0
    if up < 1 or up * up * cin != last:
        raise UserError(f"{where}: the last conv has {last} output channels, not {cin} x upscale^2; {_FIX}")
    has_prelu = "body.1.weight" in sd and sd["body.1.weight"].ndim == 1
    if has_prelu and act_type not in (None, "prelu"):
        raise UserError(f"{where}: the file has PReLU slopes (body.1.weight), so the activation is prelu, not "
                        f"{act_type}; drop act_type / --act-type")
    if not has_prelu and act_type in (None, "prelu"):
        raise UserError(f"{where}: an SRVGGNetCompact without PReLU slopes; say which activation it was trained with "
                        "(act_type relu or leakyrelu; `ganforge upscale --act-type`)")
    return SRNetConfig(arch="srvgg", num_in_ch=cin, num_out_ch=cin, num_feat=feat, scale=up,
                       num_conv=len(convs) - 2, act_type=act_type or "prelu")


def build_sr(cfg: SRNetConfig | SRDiscConfig) -> nn.Module:
    """The generator or discriminator a config describes."""
    return build_sr_generator(cfg) if isinstance(cfg, SRNetConfig) else build_sr_discriminator(cfg)


def _describe(cfg: SRNetConfig | SRDiscConfig) -> str:
    return f"{type(cfg).__name__}({', '.join(f'{k}={v}' for k, v in dataclasses.asdict(cfg).items())})"


def check_tensors(cfg: SRNetConfig | SRDiscConfig, shapes: Mapping[str, tuple[int, ...]], where: str) -> None:
    """Refuse, before anything is allocated (the network is built on the meta device), a network over
    GANFORGE_MAX_PARAMS or a file whose keys/shapes differ from the network's: one line naming the first bad key."""
    with torch.device("meta"):
        probe = build_sr(cfg)
    params = sum(p.numel() for p in probe.parameters())
    if params > limit("MAX_PARAMS"):
        raise UserError(f"{where}: describes a {params / 1e9:.1f}G-parameter network; the file is damaged or not "
                        f"meant for this machine ({hint('MAX_PARAMS')})")
    own = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    missing = [k for k in own if k not in shapes]
    unexpected = [k for k in shapes if k not in own]
    wrong = [k for k in own if k in shapes and tuple(shapes[k]) != own[k]]
    if missing or unexpected or wrong:
        problem = (f"key '{missing[0]}' is missing" if missing else f"key '{unexpected[0]}' is unexpected"
                   if unexpected else f"'{wrong[0]}' has shape {tuple(shapes[wrong[0]])}, expected {own[wrong[0]]}")
        more = len(missing) + len(unexpected) + len(wrong) - 1
        raise UserError(f"{where}: {problem}{f' (and {more} more)' if more else ''} for {_describe(cfg)}; the file "
                        f"is damaged or holds another network; {_FIX}")


def _build_and_load(cfg: SRNetConfig | SRDiscConfig, sd: Mapping[str, torch.Tensor], where: str) -> nn.Module:
    check_tensors(cfg, {k: tuple(v.shape) for k, v in sd.items()}, where)
    bad = next((k for k, v in sd.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise UserError(f"{where}: tensor '{bad}' holds NaN or infinite values; the file is damaged, get it again")
    net = build_sr(cfg)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, strict=True)
    return net.eval()


def save_sr(net: nn.Module, path: str | os.PathLike) -> None:
    """Write a network built by ganforge.networks.sr (its `.cfg` is stored as JSON in the safetensors metadata);
    written to a temporary file and renamed, so a failed write leaves an earlier file intact."""
    cfg = getattr(net, "cfg", None)
    if not isinstance(cfg, (SRNetConfig, SRDiscConfig)):
        raise UserError("save_sr: the network has no SRNetConfig / SRDiscConfig `.cfg`; build it with "
                        "build_sr_generator, build_sr_discriminator or load_official_sr")
    path = Path(path)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in net.state_dict().items()}
    kind = "generator" if isinstance(cfg, SRNetConfig) else "discriminator"
    meta = {"format": SR_FORMAT, "kind": kind, "config": json.dumps(dataclasses.asdict(cfg))}
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        save_file(tensors, str(tmp), metadata=meta)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_sr(path: str | os.PathLike) -> nn.Module:
    """A network written by save_sr, checked against its stored config before anything is allocated; eval mode."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; check the path of the weights")
    try:
        handle = safe_open(str(path), framework="pt")
    except Exception as e:  # safetensors raises its own error types for foreign or truncated files
        raise UserError(f"{path}: not a readable safetensors file ({type(e).__name__}); {_FIX}") from None
    with handle as f:
        meta = f.metadata() or {}
        if meta.get("format") != SR_FORMAT or "config" not in meta:
            raise UserError(f"{path}: not a ganforge SR weights file (no '{SR_FORMAT}' metadata); {_FIX}")
        try:
            data = json.loads(meta["config"])
        except json.JSONDecodeError as e:
            raise UserError(f"{path}: the stored network config is not valid JSON ({e}); the file is damaged") from None
        cls = SRNetConfig if meta.get("kind") == "generator" else SRDiscConfig
        cfg = cls.from_dict(data)
        names = list(f.keys())
        check_tensors(cfg, {k: tuple(f.get_slice(k).get_shape()) for k in names}, str(path))
        sd = {k: f.get_tensor(k) for k in names}
    return _build_and_load(cfg, sd, str(path))


def load_sr_weights(path: str | os.PathLike, *, act_type: ActType | None = None) -> nn.Module:
    """Either format, told apart by content: a ganforge .safetensors or an official .pth; or an SR run directory
    (`ganforge train task=sr`, `ganforge compress`), whose EMA generator is its generator.safetensors."""
    path = Path(path)
    if path.is_dir():
        if not (path / "generator.safetensors").is_file():
            raise UserError(f"{path}: a directory without generator.safetensors; give an SR run directory or a "
                            "weights file")
        path = path / "generator.safetensors"
    if not path.is_file():
        raise UserError(f"{path}: no such file; check the path of the weights")
    with open(path, "rb") as f:
        head = f.read(9)
    looks_safetensors = len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100 * 2**20
    if path.suffix == ".safetensors" or looks_safetensors:
        return load_sr(path)
    return load_official_sr(path, act_type=act_type)


def load_sr_generator(path: str | os.PathLike, *, act_type: ActType | None = None) -> nn.Module:
    """load_sr_weights for commands that need a generator: discriminator weights are refused in one line."""
    net = load_sr_weights(path, act_type=act_type)
    if not isinstance(getattr(net, "cfg", None), SRNetConfig):
        raise UserError(f"{path}: a discriminator, not an SR generator; give generator weights (e.g. "
                        "RealESRGAN_x4plus.pth, not ..._netD.pth)")
    return net
