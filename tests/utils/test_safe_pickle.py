"""The numpy-only unpickler admits array dicts and refuses everything that could run code."""

from __future__ import annotations

import collections
import os
import pickle

import numpy as np
import pytest

from ganforge.utils.safe_pickle import UnsafePickleError, load_numpy_pickle


class _WritesMarker:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_malicious_reduce_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"weights": np.ones(3, np.float32), "evil": _WritesMarker(str(marker))}, protocol=3)
    with pytest.raises(UnsafePickleError, match=r"refusing global (posix|os|nt)\.system"):
        load_numpy_pickle(payload)
    assert not marker.exists()
    pickle.loads(payload)  # the same bytes do run code with the stock unpickler: the payload is real
    assert marker.exists()


@pytest.mark.parametrize("protocol", [3, 4])
def test_nested_float_arrays_roundtrip(protocol):
    rng = np.random.default_rng(0)
    params = {"Net_0": {"Conv_0": {"kernel": rng.standard_normal((3, 3, 2, 4)).astype(np.float32),
                                   "bias": rng.standard_normal(4).astype(np.float32)}},
              "meta": [1, 2.5, "x", (True, None)], "ints": np.arange(5, dtype=np.int64)}
    data = pickle.dumps(params, protocol=protocol)
    assert b"_reconstruct" in data  # the array-reconstruction path under test is really exercised
    out = load_numpy_pickle(data)
    np.testing.assert_array_equal(out["Net_0"]["Conv_0"]["kernel"], params["Net_0"]["Conv_0"]["kernel"])
    assert out["Net_0"]["Conv_0"]["kernel"].dtype == np.float32
    np.testing.assert_array_equal(out["ints"], params["ints"])
    assert out["meta"] == [1, 2.5, "x", (True, None)]


@pytest.mark.parametrize("obj", [
    np.array([1, "a"], dtype=object),
    collections.OrderedDict(a=1),
    np.datetime64("2020-01-01"),
    {"f": print},
])
def test_other_objects_are_refused(obj):
    with pytest.raises(UnsafePickleError):
        load_numpy_pickle(pickle.dumps(obj, protocol=3))


def test_protocol5_out_of_band_buffers_are_refused():
    data = pickle.dumps(np.ones(4, np.float32), protocol=5)
    with pytest.raises(UnsafePickleError):
        load_numpy_pickle(data)
