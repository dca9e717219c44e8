"""Locate the official-format snapshots in ``../shared/fixtures`` that importer and network tests compare against.

They are too large to live in the repository. ``GANFORGE_FIXTURES`` overrides the folder. Outside CI a missing folder
skips the test; under CI (``CI`` set, as ``.ci/run`` is) it fails, so a reference comparison can never silently vanish.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(os.environ.get("GANFORGE_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures"))


def fixture_path(name: str) -> Path:
    """The path of one fixture file; skip (fail under CI) when the fixtures folder is not there."""
    path = FIXTURES / name
    if not path.is_file():
        message = f"official fixture {path} not found; set GANFORGE_FIXTURES to the shared/fixtures folder"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def reference(name: str) -> dict[str, np.ndarray]:
    """The arrays of one ``*_reference.npz`` file."""
    with np.load(fixture_path(name)) as data:
        return {k: data[k] for k in data.files}
