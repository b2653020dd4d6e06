"""Progress: a tqdm bar on a terminal, periodic log lines under cron, nothing with --quiet."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

log = logging.getLogger("realtrace")


class Progress:
    """Counts sessions/spans as they are converted and sent; renders by where output goes."""

    def __init__(
        self, mode: str = "auto", interval: float = 10.0, clock: Any = time.monotonic
    ) -> None:
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "log"
        self.mode = mode
        self.interval = interval
        self.clock = clock
        self.start = clock()
        self.last = self.start
        self.sessions = 0
        self.spans = 0
        self.sent = 0
        self.phase = "reading"
        self._bar: Any = None

    def set_phase(self, phase: str, total: int | None = None, unit: str = "sessions") -> None:
        self.phase = phase
        if self.mode == "bar":
            from tqdm import tqdm

            if self._bar is not None:
                self._bar.close()
            self._bar = tqdm(
                total=total,
                desc=phase,
                unit=f" {unit}",
                file=sys.stderr,
                dynamic_ncols=True,
                leave=False,
            )
        elif self.mode == "log":
            shown = f" ({total} {unit[:-1] if total == 1 else unit})" if total is not None else ""
            log.info("%s%s", phase, shown)

    def file_read(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def converted(self, spans: int) -> None:
        self.sessions += 1
        self.spans += spans
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(spans=self.spans, sent=self.sent, refresh=False)
        self._tick()

    def delivered(self, spans: int) -> None:
        self.sent += spans
        self._tick()

    def _tick(self) -> None:
        if self.mode != "log":
            return
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            rate = self.sessions / max(now - self.start, 1e-9)
            log.info(
                "%s: %d sessions converted, %d spans, %d sent (%.1f sessions/s)",
                self.phase,
                self.sessions,
                self.spans,
                self.sent,
                rate,
            )

    def close(self) -> None:
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
