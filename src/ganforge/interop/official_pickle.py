"""Read official StyleGAN2-ADA, StyleGAN3 and R3GAN snapshot pickles without executing anything from the file.

Official snapshots only load by unpickling, which runs whatever the file names (StyleGAN's `torch_utils.persistence`
even execs module source embedded in it). This unpickler resolves a fixed allowlist of globals to checked stand-ins:
tensors are rebuilt from their bytes with `torch.load(weights_only=True)`, and every module becomes a `Record` of its
class name and saved `__dict__`, never an instance of the class. Anything else raises `UnsafePickleError` naming it.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganforge.errors import UserError
from ganforge.utils.safe_pickle import UnsafePickleError, numpy_global

__all__ = ["Record", "UnsafePickleError", "read_snapshot", "state_dict"]

# Module prefixes whose classes become Records: the official repositories' networks and torch's own layers.
_RECORD_PREFIXES = ("training.", "R3GAN.", "torch.nn.modules.")
_DTYPES = {name: getattr(torch, name) for name in ("float32", "float16", "bfloat16", "float64", "int64", "int32",
                                                   "uint8", "int8", "bool")}
_MAX_PICKLE_BYTES = 4 << 30


@dataclass
class Record:
    """What a pickle asked to build: the class (`module.name`, or the bare persistent `class_name`) and its state."""

    class_name: str
    state: dict[str, Any] = field(default_factory=dict)
    persistent: bool = False

    def __setstate__(self, state: Any) -> None:  # BUILD on a NEWOBJ'd record stores the module's __dict__
        if not isinstance(state, dict):
            raise UnsafePickleError(f"refusing non-dict state for {self.class_name}")
        self.state = dict(state)

    @property
    def kwargs(self) -> dict[str, Any]:
        """Constructor keyword arguments as saved by StyleGAN's persistence (`_init_kwargs`); {} when absent."""
        return dict(self.state.get("_init_kwargs") or {})

    def children(self) -> dict[str, Record]:
        return {k: v for k, v in (self.state.get("_modules") or {}).items() if isinstance(v, Record)}

    def child(self, path: str) -> Record:
        """The sub-module at a dotted path, e.g. `synthesis.b4.conv1`."""
        rec = self
        for part in path.split("."):
            kids = rec.children()
            if part not in kids:
                raise UserError(f"snapshot module {rec.class_name} has no sub-module {part!r} (path {path!r}); "
                                "the file is not the architecture it claims to be")
            rec = kids[part]
        return rec


class EasyDict(dict):
    """Stand-in for `dnnlib.util.EasyDict`: a plain dict with attribute access."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e


def _record_class(path: str) -> type:
    """A Record subclass standing in for `path`, built by NEWOBJ (`cls.__new__(cls)`) then BUILD (`__setstate__`)."""

    def new(cls: type, *args: Any) -> Record:
        if args:
            raise UnsafePickleError(f"refusing {path}.__new__ with arguments")
        return Record(class_name=path)

    return type("RecordOf", (Record,), {"__new__": new})


def _persistent_obj(meta: Any) -> Record:
    """`torch_utils.persistence._reconstruct_persistent_obj`: keep class_name and state, never the module source."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise UnsafePickleError("refusing a persistent object that is not a plain class record")
    name = meta.get("class_name")
    if not isinstance(name, str):
        raise UnsafePickleError(f"refusing persistent object with class_name {name!r}")
    return Record(class_name=name, state=dict(meta["state"]), persistent=True)


def _load_storage(data: Any) -> Any:
    """`torch.storage._load_from_bytes`: a legacy torch.save of one storage, read with weights_only=True."""
    if not isinstance(data, bytes):
        raise UnsafePickleError("refusing storage bytes of a non-bytes object")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                    hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    """`torch._utils._rebuild_tensor_v2` with every argument checked, including that the view fits its storage."""
    if not isinstance(storage, torch.storage.TypedStorage | torch.UntypedStorage):
        raise UnsafePickleError(f"refusing tensor rebuild from {type(storage).__name__}")
    ints = (offset, *size, *stride)
    if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)) or not all(
            isinstance(v, int) and v >= 0 for v in ints):
        raise UnsafePickleError(f"refusing tensor rebuild with size {size!r}, stride {stride!r}")
    typed = storage if isinstance(storage, torch.storage.TypedStorage) else None
    dtype = typed.dtype if typed is not None else torch.uint8
    untyped = typed._untyped_storage if typed is not None else storage  # .untyped() warns TypedStorage deprecated
    numel = untyped.nbytes() // dtype.itemsize
    extent = offset + sum((s - 1) * st for s, st in zip(size, stride)) + 1 if all(size) else 0
    if extent > numel:
        raise UnsafePickleError(f"refusing tensor view of {extent} elements on a storage of {numel}")
    return torch.empty(0, dtype=dtype).set_(untyped, offset, size, stride)


def _rebuild_parameter(data: Any, requires_grad: Any = False, hooks: Any = None) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise UnsafePickleError("refusing a parameter that is not a tensor")
    return data


_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_obj,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    **{("torch", name): dtype for name, dtype in _DTYPES.items()},
}


class _SnapshotUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _GLOBALS:
            return _GLOBALS[(module, name)]
        found = numpy_global(module, name)
        if found is not None:
            return found
        if module.startswith(_RECORD_PREFIXES) and name.isidentifier():
            return _record_class(f"{module}.{name}")
        raise UnsafePickleError(f"refusing global {module}.{name}: only tensors, containers and network records "
                                "may be read from a snapshot")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refusing persistent id: official snapshots store tensors inline")


def read_snapshot(path: str | Path) -> dict[str, Any]:
    """The top-level dict of an official snapshot (`G`, `D`, `G_ema` as Records, `training_set_kwargs`, ...)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such snapshot file; give the path of a network-snapshot-*.pkl")
    if path.stat().st_size > _MAX_PICKLE_BYTES:
        raise UserError(f"{path}: {path.stat().st_size >> 20} MiB is larger than any official snapshot; check the file")
    try:
        with path.open("rb") as f:
            data = _SnapshotUnpickler(f).load()
    except UnsafePickleError as e:
        raise UserError(f"{path}: {e}; nothing from the file was executed") from e
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, RuntimeError) as e:
        raise UserError(f"{path}: not a readable snapshot pickle ({type(e).__name__}: {e})") from e
    if not isinstance(data, dict) or not any(isinstance(data.get(k), Record) for k in ("G", "G_ema", "D")):
        raise UserError(f"{path}: not a network snapshot (expected a dict with G, D and G_ema)")
    return data


def _walk(rec: Record, prefix: str) -> Iterator[tuple[str, torch.Tensor]]:
    skip = rec.state.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        for name, t in (rec.state.get(group) or {}).items():
            if isinstance(t, torch.Tensor) and not (group == "_buffers" and name in skip):
                yield prefix + name, t
    for name, child in rec.children().items():
        yield from _walk(child, f"{prefix}{name}.")


def state_dict(rec: Record) -> dict[str, torch.Tensor]:
    """The flat `module.state_dict()` the record's module would have: parameters and persistent buffers."""
    return dict(_walk(rec, ""))
