"""File sink: OTLP/JSON lines, the OpenTelemetry Collector file-exporter format.

Used as the default output and as the dead-letter file; `read_requests` reads it
back for `realtrace replay`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .encode import request_from_json, request_to_json


class JsonLinesFile:
    """Appends one ExportTraceServiceRequest per line; opened lazily, so no empty files."""

    def __init__(self, path: Path, append: bool = False) -> None:
        self.path = path
        self._mode = "a" if append else "w"
        self._fh: IO[str] | None = None
        self.requests = 0

    def write(self, request: ExportTraceServiceRequest) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open(self._mode, encoding="utf-8")
        self._fh.write(request_to_json(request))
        self._fh.write("\n")
        self._fh.flush()
        self.requests += 1

    def touch(self) -> None:
        """Create the file even when nothing was written (a run's output always exists)."""
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open(self._mode, encoding="utf-8")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> JsonLinesFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_requests(path: Path) -> Iterator[tuple[int, ExportTraceServiceRequest]]:
    """(line number, request) for every non-blank line of an OTLP/JSON lines file."""
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                yield n, request_from_json(line)
