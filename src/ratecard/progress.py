"""A progress line on standard error, for evaluations that take a while.

It shows only when standard error is a terminal and the work has already
taken more than `delay` seconds, so quick runs, pipes, files and CI logs stay
exactly as they were. Standard output is never touched.

    with Progress("billing") as progress:
        progress.start()
        evaluate(..., progress=progress)    # progress(done, total, label)
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Protocol


class Reporter(Protocol):
    """What a long evaluation reports to: started before the usage stage (which
    reports nothing), told `(done, total, label)` as contracts are billed, and
    closed before any diagnostics are printed."""

    def start(self) -> None: ...

    def __call__(self, done: int, total: int, label: str = "") -> None: ...

    def close(self) -> None: ...


class Progress(Reporter):
    """A callable `(done, total, label)` that redraws one status line on stderr."""

    def __init__(self, what: str = "working", *, stream=None, delay: float = 1.0,
                 enabled: bool | None = None):
        self.what = what
        self.stream = stream if stream is not None else sys.stderr
        self.delay = delay
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self._started = time.monotonic()
        self._status = f"{what}..."
        self._shown = False
        self._width = 0
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def __enter__(self) -> "Progress":
        return self

    def start(self) -> None:
        """The clock starts; the first stage (reading usage) reports nothing, so a
        timer shows that we are alive once `delay` has passed."""
        self._started = time.monotonic()
        if self.enabled and self._timer is None:
            self._timer = threading.Timer(self.delay, self._draw)
            self._timer.daemon = True
            self._timer.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def __call__(self, done: int, total: int, label: str = "") -> None:
        if not self.enabled:
            return
        status = f"{self.what}: {done}/{total}"
        self._status = f"{status} {label}" if label else status
        if time.monotonic() - self._started >= self.delay:
            self._draw()

    def _draw(self) -> None:
        with self._lock:
            if not self.enabled:
                return
            text = self._status[:79]
            pad = " " * max(self._width - len(text), 0)
            self.stream.write(f"\r{text}{pad}")
            self.stream.flush()
            self._width = len(text)
            self._shown = True

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        with self._lock:
            if self._shown:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()
            self.enabled = False
            self._shown = False
