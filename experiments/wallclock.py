"""Wall time of a run that survives a hard kill: the run record's wall_s is written when a run ends, so a session
that was killed (SIGKILL, power loss) would drop its hours. A WallClock rewrites the elapsed seconds of the current
session to a small file every minute; the next session that continues the run adds what the file holds."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path


class WallClock:
    """Between start() and stop(), `path` holds this session's elapsed wall seconds, at most `every` seconds
    stale."""

    def __init__(self, path: Path, every: float = 60.0) -> None:
        self.path, self.every = Path(path), every
        self._t0 = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"wall_s": self.elapsed}))
        os.replace(tmp, self.path)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            self._write()

    def start(self) -> WallClock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._t0 = time.perf_counter()
        self._write()  # the file exists from the start: a session killed within a minute still counts as one
        self._thread = threading.Thread(target=self._beat, name="wallclock", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> float:
        """Stop beating and remove the file (the caller records the time); returns this session's seconds."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.path.unlink(missing_ok=True)
        return self.elapsed


def left_by_killed_session(path: Path) -> float | None:
    """The wall seconds a killed session left in `path` (None when no session was killed), and the file removed."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        seconds = float(json.loads(path.read_text())["wall_s"])
    except (OSError, ValueError, KeyError, TypeError):
        seconds = 0.0  # killed mid-write (the write is atomic, so only a foreign file gets here): count the session
    path.unlink(missing_ok=True)
    return seconds
