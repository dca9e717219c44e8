"""`ganforge import`: turn an official snapshot pickle into a ganforge run directory, without running its code.

The file is read by `official_pickle.read_snapshot` (tensors and module records only), its family detected from the
records, and the family's importer writes a complete run (config.json, one ckpt-* with G, G_ema and D,
generator.safetensors, import.json) into a temporary sibling that is renamed into place at the end.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from ganforge.errors import UserError
from ganforge.interop.official_pickle import Record, read_snapshot
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


def _write_r3gan_run(snapshot: dict[str, Any], run_dir: Path, provenance: dict[str, Any]) -> dict[str, Any]:
    """Write an R3GAN snapshot as a ganforge run into `run_dir` (an empty folder, renamed to provenance["run_dir"]
    afterwards); returns the import summary."""
    from ganforge.interop.r3gan import convert_r3gan
    from ganforge.training import checkpoint as ckpt
    from ganforge.training.config import TrainConfig, to_dict

    imp = convert_r3gan(snapshot)
    ts = snapshot.get("training_set_kwargs") if isinstance(snapshot.get("training_set_kwargs"), dict) else {}
    cur_nimg = snapshot.get("cur_nimg") if isinstance(snapshot.get("cur_nimg"), int) else 0
    data = str(ts["path"]) if isinstance(ts.get("path"), str) else TrainConfig().data  # as the official run named it
    cfg = TrainConfig(out=provenance["run_dir"], net=imp.net, conditional=imp.net.num_classes > 0,
                      kimg=cur_nimg / 1000, data=data, xflip=bool(ts.get("xflip", False)))
    info = {**provenance, "official_classes": {k: snapshot[k].class_name for k in ("G", "G_ema", "D")
                                               if isinstance(snapshot.get(k), Record)},
            "training_set_kwargs": _jsonable(ts), "cur_nimg": cur_nimg, **imp.info,
            "not_imported": sorted(k for k in snapshot if k not in ("G", "G_ema", "D", "training_set_kwargs",
                                                                    "cur_nimg"))}
    config = to_dict(cfg)
    (run_dir / "config.json").write_text(json.dumps(config, indent=1))
    state = {"cur_nimg": cur_nimg, "step": 0, "config": config, "run_id": uuid.uuid4().hex, "import": info}
    tag = f"{ckpt.CKPT_PREFIX}{cur_nimg // 1000:07d}k{0:09d}"
    ckpt.write_checkpoint(run_dir, tag, {"G": imp.G, "D": imp.D, "G_ema": imp.G_ema}, {}, state)
    ckpt.save_generator(run_dir / "generator.safetensors", imp.G_ema, config["net"],
                        {"kimg": f"{cur_nimg / 1000:.3f}", "imported_from": provenance["source"],
                         "source_sha256": provenance["sha256"]})
    (run_dir / IMPORT_INFO).write_text(json.dumps(info, indent=1))
    params = {k: sum(p.numel() for p in m.parameters()) for k, m in (("G", imp.G_ema), ("D", imp.D))}
    return {"checkpoint": run_dir / tag, "params": params, "net": config["net"]}


# Families whose official networks load as ganforge networks (interop.<family>.from_snapshot), not yet as runs.
NETWORK_FAMILIES = ("stylegan2", "stylegan3")


def load_networks(pkl: str | Path) -> tuple[Family, tuple[Any, ...]]:
    """(family, (G, D, G_ema, config)) of an official StyleGAN2-ADA or StyleGAN3 snapshot, read without running it."""
    snapshot = read_snapshot(pkl)
    family = detect_family(snapshot)
    if family not in NETWORK_FAMILIES:
        raise UserError(f"{Path(pkl).name} is an {family} snapshot; import it as a run with `ganforge import`")
    return family, importlib.import_module(f"ganforge.interop.{family}").from_snapshot(snapshot)


def _not_yet(snapshot: dict[str, Any], run_dir: Path, provenance: dict[str, Any]) -> dict[str, Any]:
    raise UserError("StyleGAN2-ADA/StyleGAN3 import is not available yet as a run directory (ganforge trains R3GAN "
                    "networks only); load the networks in Python with ganforge.interop.convert.load_networks(path)")


# family -> importer(snapshot, empty run dir, provenance) -> summary; StyleGAN run writers would replace _not_yet here
IMPORTERS: dict[str, Callable[[dict[str, Any], Path, dict[str, Any]], dict[str, Any]]] = {
    "r3gan": _write_r3gan_run,
    "stylegan2": _not_yet,
    "stylegan3": _not_yet,
}


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
        result = IMPORTERS[family](snapshot, tmp, provenance)
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


__all__ = ["IMPORTERS", "IMPORT_INFO", "NETWORK_FAMILIES", "Family", "detect_family", "import_snapshot",
           "load_networks", "sha256_file"]
