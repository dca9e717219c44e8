"""`ganforge import`: turn an official snapshot pickle into a ganforge run directory, without running its code.

The file is read by `official_pickle.read_snapshot` (tensors and module records only), its family detected from the
records (R3GAN, StyleGAN2-ADA or StyleGAN3), the family's converter builds ganforge networks of the matching
`net.arch`, and one writer stores a complete run (config.json, one ckpt-* with G, G_ema and D,
generator.safetensors, import.json) in a temporary sibling that is renamed into place at the end.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from torch import nn

from ganforge.errors import UserError
from ganforge.interop.augment_pipe import convert_augment_pipe
from ganforge.interop.official_pickle import Record, read_snapshot
from ganforge.networks import NetworkConfig, build_discriminator, build_generator
from ganforge.utils.hashing import sha256_file

Family = Literal["r3gan", "stylegan2", "stylegan3"]
IMPORT_INFO = "import.json"


def detect_family(snapshot: dict[str, Any]) -> Family:
    """Which official code wrote the snapshot, from its generator record (never from code in the file)."""
    G = snapshot.get("G_ema") if isinstance(snapshot.get("G_ema"), Record) else snapshot.get("G")
    if not isinstance(G, Record):
        raise UserError("the snapshot has no generator (G_ema or G); it is not an official network snapshot")
    if not G.persistent and G.class_name == "training.networks.Generator" and any(
            kid.class_name.startswith("R3GAN.") for kid in G.children().values()):
        return "r3gan"
    synthesis = G.children().get("synthesis") if G.persistent and G.class_name == "Generator" else None
    if synthesis is not None:
        layers = set(synthesis.children())
        if "input" in layers or any(name.startswith("L0_") for name in layers):
            return "stylegan3"
        if any(name.startswith("b") and name[1:].isdigit() for name in layers):
            return "stylegan2"
    raise UserError(f"generator class {G.class_name!r} is not an official R3GAN, StyleGAN2-ADA or StyleGAN3 network; "
                    "ganforge imports only snapshots written by those repositories")


def _jsonable(value: Any) -> Any:
    """Plain JSON for provenance (numpy scalars and odd objects become strings)."""
    return json.loads(json.dumps(value, default=str))


@dataclass
class Converted:
    """A snapshot's networks as ganforge networks of `net.arch` (built by ganforge.networks.registry), and what was
    read about the official ones (for provenance)."""

    net: NetworkConfig
    G: nn.Module
    G_ema: nn.Module
    D: nn.Module
    info: dict[str, Any] = field(default_factory=dict)


def _convert_r3gan(snapshot: dict[str, Any]) -> Converted:
    from ganforge.interop.r3gan import convert_r3gan

    imp = convert_r3gan(snapshot)
    return Converted(imp.net, imp.G, imp.G_ema, imp.D, imp.info)


def _convert_stylegan(family: str) -> Callable[[dict[str, Any]], Converted]:
    """Converter of a StyleGAN family: the official-layout networks of interop.<family>.from_snapshot, re-homed in
    the registry's networks of the NetworkConfig written to config.json (so the run loads exactly as imported)."""
    def convert(snapshot: dict[str, Any]) -> Converted:
        module = importlib.import_module(f"ganforge.interop.{family}")
        g, d, g_ema, _ = module.from_snapshot(snapshot)
        net = module.net_config(g.cfg, d.cfg)
        if net.stylegan_configs() != (g.cfg, d.cfg):  # the config.json must describe exactly these networks
            raise UserError(f"{family} import: the snapshot's settings do not survive as net.arch_kwargs")
        nets: dict[str, nn.Module] = {}
        for name, official in (("G", g), ("D", d), ("G_ema", g_ema)):
            nets[name] = (build_discriminator if name == "D" else build_generator)(net)
            nets[name].load_state_dict(official.state_dict(), strict=True)
            nets[name].eval()
        kwargs = {k: snapshot[k].kwargs for k in ("G", "D") if isinstance(snapshot.get(k), Record)}
        return Converted(net, nets["G"], nets["G_ema"], nets["D"], {"official_kwargs": _jsonable(kwargs)})
    return convert


# family -> converter(snapshot) -> ganforge networks of that family's net.arch
CONVERTERS: dict[str, Callable[[dict[str, Any]], Converted]] = {
    "r3gan": _convert_r3gan,
    "stylegan2": _convert_stylegan("stylegan2"),
    "stylegan3": _convert_stylegan("stylegan3"),
}


def _write_run(snapshot: dict[str, Any], run_dir: Path, provenance: dict[str, Any]) -> dict[str, Any]:
    """Write an official snapshot as a ganforge run into `run_dir` (an empty folder, renamed to
    provenance["run_dir"] afterwards); returns the import summary."""
    from ganforge.training import checkpoint as ckpt
    from ganforge.training.config import TrainConfig, to_dict

    imp = CONVERTERS[provenance["family"]](snapshot)
    ts = snapshot.get("training_set_kwargs") if isinstance(snapshot.get("training_set_kwargs"), dict) else {}
    cur_nimg = snapshot.get("cur_nimg") if isinstance(snapshot.get("cur_nimg"), int) else 0
    data = str(ts["path"]) if isinstance(ts.get("path"), str) else TrainConfig().data  # as the official run named it
    pipe = snapshot.get("augment_pipe")
    aug = convert_augment_pipe(pipe) if isinstance(pipe, Record) else None
    cfg = TrainConfig(out=provenance["run_dir"], net=imp.net, conditional=imp.net.num_classes > 0,
                      kimg=cur_nimg / 1000, data=data, xflip=bool(ts.get("xflip", False)))
    if aug is not None:
        cfg.augment = aug.config
    imported = {"G", "G_ema", "D", "training_set_kwargs", "cur_nimg", *(["augment_pipe"] if aug else [])}
    info = {**provenance, "official_classes": {k: snapshot[k].class_name for k in ("G", "G_ema", "D")
                                               if isinstance(snapshot.get(k), Record)},
            "training_set_kwargs": _jsonable(ts), "cur_nimg": cur_nimg, **imp.info,
            **({"augment_pipe": _jsonable(aug.info())} if aug else {}),
            "not_imported": sorted(k for k in snapshot if k not in imported)}
    config = to_dict(cfg)
    (run_dir / "config.json").write_text(json.dumps(config, indent=1))
    state = {"cur_nimg": cur_nimg, "step": 0, "config": config, "run_id": uuid.uuid4().hex, "import": info}
    if aug is not None and aug.config.kind == "ada":  # the controller state a resume or --init-from continues
        state["augment"] = aug.controller_state()
    tag = f"{ckpt.CKPT_PREFIX}{cur_nimg // 1000:07d}k{0:09d}"
    ckpt.write_checkpoint(run_dir, tag, {"G": imp.G, "D": imp.D, "G_ema": imp.G_ema}, {}, state)
    ckpt.save_generator(run_dir / "generator.safetensors", imp.G_ema, config["net"],
                        {"kimg": f"{cur_nimg / 1000:.3f}", "imported_from": provenance["source"],
                         "source_sha256": provenance["sha256"]})
    (run_dir / IMPORT_INFO).write_text(json.dumps(info, indent=1))
    params = {k: sum(p.numel() for p in m.parameters()) for k, m in (("G", imp.G_ema), ("D", imp.D))}
    return {"checkpoint": run_dir / tag, "params": params, "net": config["net"],
            "augment": aug.summary() if aug else None}


# Families whose official networks also load as official-layout ganforge modules (interop.<family>.from_snapshot).
NETWORK_FAMILIES = ("stylegan2", "stylegan3")


def load_networks(pkl: str | Path) -> tuple[Family, tuple[Any, ...]]:
    """(family, (G, D, G_ema, config)) of an official StyleGAN2-ADA or StyleGAN3 snapshot, read without running it:
    the official-layout modules with the official call signature (`ganforge import` writes ganforge runs instead)."""
    snapshot = read_snapshot(pkl)
    family = detect_family(snapshot)
    if family not in NETWORK_FAMILIES:
        raise UserError(f"{Path(pkl).name} is an {family} snapshot; import it as a run with `ganforge import`")
    return family, importlib.import_module(f"ganforge.interop.{family}").from_snapshot(snapshot)


def import_snapshot(pkl: str | Path, out_dir: str | Path, overwrite: bool = False,
                    summary: dict[str, Any] | None = None) -> Path:
    """Import an official snapshot as a ganforge run directory `out_dir` (complete or not there at all).

    An existing non-empty `out_dir` is replaced only with overwrite=True. `summary`, if given, receives what was
    written (family, checkpoint, parameter counts) for printing.
    """
    pkl, out = Path(pkl), Path(out_dir)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not overwrite)):
        raise UserError(f"{out} already exists and is not an empty folder; choose another OUT_DIR or pass --overwrite")
    snapshot = read_snapshot(pkl)
    family = detect_family(snapshot)
    provenance = {"source": pkl.name, "sha256": sha256_file(pkl), "family": family, "run_dir": str(out)}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.import-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        result = _write_run(snapshot, tmp, provenance)
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if summary is not None:
        summary.update(result, family=family, checkpoint=out / Path(result["checkpoint"]).name, run_dir=out)
    return out


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished temporary run onto `out`; an old `out` is kept aside until the rename succeeded."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


__all__ = ["CONVERTERS", "IMPORT_INFO", "NETWORK_FAMILIES", "Converted", "Family", "detect_family", "import_snapshot",
           "load_networks", "sha256_file"]
