"""Progress: a tqdm bar on a terminal, periodic log lines under cron, nothing with --quiet.

Both say how far a phase has got of its total, the rate right now (over the last
interval, not since the start) and the time left: while files are read, in bytes as
they are read (the bar moves inside one huge file, whichever process reads it; see
read/meter.py); while sessions are converted and sent, in sessions.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from typing import Any

from pipeline.read.meter import METER

log = logging.getLogger("realtrace")


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _left(done: float, total: float, rate: float) -> str:
    if rate <= 0 or total <= done:
        return ""
    seconds = (total - done) / rate
    if seconds >= 3600:
        return f", about {seconds / 3600:.1f} h left"
    if seconds >= 60:
        return f", about {seconds / 60:.0f} min left"
    return f", about {seconds:.0f} s left"


class Progress:
    """Where a run has got; renders by where output goes (bar, log lines, nothing)."""

    def __init__(
        self, mode: str = "auto", interval: float = 10.0, clock: Any = time.monotonic
    ) -> None:
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "log"
        self.mode = mode
        self.interval = interval
        self.clock = clock
        self.sessions = 0
        self.files = 0
        self.spans = 0
        self.sent = 0
        self.phase = "reading"
        self.unit = "sessions"
        self.total: int | None = None
        self._bytes_from = 0  # the meter's count when reading began
        self._last = (clock(), 0.0)  # (time, done) at the last report, for the rate now
        self._bar: Any = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- phases --------------------------------------------------------------------

    def set_phase(
        self, phase: str, total: int | None = None, unit: str = "sessions", files: int = 0
    ) -> None:
        """A phase with its total: `unit` "bytes" (reading `files`, from the meter),
        "files" (read elsewhere) or "sessions"."""
        with self._lock:
            self.phase, self.total, self.unit = phase, total, unit
            if unit == "bytes":
                self._bytes_from = METER.total
            self._last = (self.clock(), 0.0)
        if self.mode == "bar":
            from tqdm import tqdm

            if self._bar is not None:
                self._bar.close()
            scale = unit == "bytes"
            self._bar = tqdm(
                total=total,
                desc=phase,
                unit="B" if scale else f" {unit}",
                unit_scale=scale,
                file=sys.stderr,
                dynamic_ncols=True,
                leave=False,
            )
        elif self.mode == "log":
            shown = ""
            if total is not None:
                shown = (
                    f" ({files} file{'s' * (files != 1)}, {_size(total)})"
                    if unit == "bytes"
                    else f" ({total} {unit[:-1] if total == 1 else unit})"
                )
            log.info("%s%s", phase, shown)
        self._start_ticker()

    def add_total(self, more: int) -> None:
        """More to do in this phase (old files a new one continues, read in a second round)."""
        with self._lock:
            self.total = (self.total or 0) + more
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def done(self) -> float:
        """How much of the phase is done, in its unit."""
        if self.unit == "bytes":
            return float(METER.total - self._bytes_from)
        return float(self.files if self.unit == "files" else self.sessions)

    # -- events --------------------------------------------------------------------

    def file_read(self) -> None:
        """A file was read (its bytes already counted by the meter, when read here)."""
        self.files += 1
        if self._bar is not None and self.unit == "files":
            self._bar.update(1)

    def converted(self, spans: int) -> None:
        self.sessions += 1
        self.spans += spans
        if self._bar is not None and self.unit == "sessions":
            self._bar.update(1)
            self._bar.set_postfix(spans=self.spans, sent=self.sent, refresh=False)

    def delivered(self, spans: int) -> None:
        self.sent += spans

    # -- reporting -----------------------------------------------------------------

    def _start_ticker(self) -> None:
        if self.mode == "none" or self._ticker is not None:
            return
        self._ticker = threading.Thread(
            target=self._tick_loop, name="realtrace-progress", daemon=True
        )
        self._ticker.start()

    def _tick_loop(self) -> None:
        every = 0.5 if self.mode == "bar" else self.interval
        while not self._stop.wait(every):
            self.tick()

    def tick(self) -> None:
        """One report: the bar moved to where reading is, or one log line."""
        if self._bar is not None and self.unit == "bytes":
            done = self.done()
            self._bar.update(max(0.0, done - self._bar.n))
            return
        if self.mode == "log":
            log.info("%s", self.line())

    def line(self) -> str:
        """`phase: done of total (percent), rate now, time left`, and the spans so far."""
        with self._lock:
            now, done = self.clock(), self.done()
            then, before = self._last
            self._last = (now, done)
            total, unit, phase = self.total, self.unit, self.phase
        rate = (done - before) / max(now - then, 1e-9)
        if unit == "bytes":
            head = f"{phase}: {_size(done)}" + (f" of {_size(total)}" if total else "")
            speed = f"{_size(rate)}/s"
        else:
            head = f"{phase}: {done:,.0f}" + (f" of {total:,}" if total else "") + f" {unit}"
            speed = f"{rate:,.0f} {unit}/s"
        pct = f" ({min(100.0, 100 * done / total):.0f}%)" if total else ""
        tail = "" if unit == "bytes" else f"; {self.spans:,} spans, {self.sent:,} sent"
        return f"{head}{pct}, {speed}{_left(done, total or 0, rate)}{tail}"

    def close(self) -> None:
        self._stop.set()
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class JsonFormatter(logging.Formatter):
    """`--log-format json`: one JSON object per log line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": round(record.created, 3),
                "level": record.levelname.lower(),
                "message": record.getMessage(),
            }
        )
