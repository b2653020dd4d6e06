"""File sink: OTLP/JSON lines, the OpenTelemetry Collector file-exporter format.

Used as the default output and as the dead-letter file; `read_requests` reads it
back for `realtrace replay`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from pipeline import private
from pipeline.encode import request_from_json, request_to_json
from pipeline.errors import NotOtlpJsonError

log = logging.getLogger("realtrace")


class JsonLinesFile:
    """Appends one ExportTraceServiceRequest per line; opened lazily, so no empty files.

    The file only ever holds whole lines: a write that fails (disk full) is cut
    back to the last whole line before the error goes up, and a file found
    ending mid-line (an earlier run was killed while writing) has its partial
    tail removed before anything is appended.
    """

    def __init__(self, path: Path, append: bool = False) -> None:
        self.path = path
        self._append = append
        self._fh: BinaryIO | None = None

    def _open(self) -> BinaryIO:
        if self._fh is None:
            private.mkdir(self.path.parent)
            if self._append:
                cut_partial_line(self.path)
            self._fh = os.fdopen(private.create(self.path, self._append), "ab", buffering=0)
        return self._fh

    def write(self, request: ExportTraceServiceRequest) -> None:
        self.write_line((request_to_json(request) + "\n").encode())

    def write_line(self, line: bytes) -> None:
        """One whole line (it ends with a newline), or nothing at all."""
        fh = self._open()
        data = memoryview(line)
        at = fh.tell() if fh.seekable() else None  # a pipe (--output -) cannot be cut back
        try:
            while data:  # unbuffered: a short write is seen here, not at close
                n = fh.write(data)
                if not n:
                    raise OSError(errno.ENOSPC, "No space left on device")
                data = data[n:]
        except OSError as exc:
            if at is not None:
                with contextlib.suppress(OSError):
                    fh.truncate(at)  # shrinking needs no space: never leave half a line
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None

    def touch(self) -> None:
        """Create the file even when nothing was written (a run's output always exists)."""
        self._open()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> JsonLinesFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cut_partial_line(path: Path) -> int:
    """Remove a trailing partial line (no final newline); returns the bytes removed."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with path.open("r+b") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        keep = 0
        pos = size
        while pos > 0:  # scan back for the last newline, 64 KiB at a time
            step = min(65536, pos)
            pos -= step
            fh.seek(pos)
            block = fh.read(step)
            nl = block.rfind(b"\n")
            if nl >= 0:
                keep = pos + nl + 1
                break
        fh.truncate(keep)
    log.warning(
        "%s ended with a partial line (%d bytes, left by an interrupted write): removed",
        path,
        size - keep,
    )
    return size - keep


def read_requests(path: Path) -> Iterator[tuple[int, ExportTraceServiceRequest]]:
    """(line number, request) for every non-blank line of an OTLP/JSON lines file."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield n, request_from_json(line)
            except Exception as exc:  # json or protobuf's ParseError: the file is not ours
                kind = (
                    "not JSON" if isinstance(exc, json.JSONDecodeError) else "not an OTLP request"
                )
                raise NotOtlpJsonError(
                    f"{path} line {n} is {kind}: replay reads the OTLP JSON lines realtrace writes "
                    "(its output or dead-letter file)"
                ) from None


def drop_traces(
    path: Path,
    traces: set[bytes],
    before: int | None = None,
    remove_empty: bool = True,
    only: tuple[str, str] | None = None,
) -> tuple[int, int]:
    """Remove the spans of `traces` from an OTLP/JSON lines file (a dead letter whose
    sessions were delivered since; an output's earlier versions of sessions sent again),
    from its lines starting before byte `before` only, when given, and from the resources
    whose attribute `only[0]` is `only[1]` only, when given (a dead letter's destination; a
    request without it is kept): rewritten whole beside it and renamed over it, removed when
    nothing is left. Returns (spans dropped, spans kept); the file is left as it was when none
    is dropped."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)  # made exclusively, 0600: a name nobody could have planted a link at
    tmp = Path(name)
    try:
        return _rewrite(path, tmp, traces, before, remove_empty, only)
    finally:
        tmp.unlink(missing_ok=True)  # renamed over `path` by then, or not needed


def _rewrite(
    path: Path,
    tmp: Path,
    traces: set[bytes],
    before: int | None,
    remove_empty: bool,
    only: tuple[str, str] | None,
) -> tuple[int, int]:
    dropped = kept = 0
    with JsonLinesFile(tmp) as out, path.open("rb") as fh:
        offset = 0
        for raw in fh:
            at, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            if before is not None and at >= before:
                out.write_line(raw if raw.endswith(b"\n") else raw + b"\n")
                kept += 1
                continue
            try:
                request = request_from_json(raw.decode("utf-8", "replace"))
            except Exception:
                raise NotOtlpJsonError(f"{path} is not OTLP JSON lines at byte {at}") from None
            here = 0
            for rs in request.resource_spans:
                if only is not None and not any(
                    kv.key == only[0] and kv.value.string_value == only[1]
                    for kv in rs.resource.attributes
                ):
                    kept += sum(len(ss.spans) for ss in rs.scope_spans)
                    continue
                for ss in rs.scope_spans:
                    spans = [sp for sp in ss.spans if sp.trace_id not in traces]
                    here += len(ss.spans) - len(spans)
                    kept += len(spans)
                    del ss.spans[:]
                    ss.spans.extend(spans)
            dropped += here
            if not here:  # untouched: the line as it was, byte for byte
                out.write_line(raw if raw.endswith(b"\n") else raw + b"\n")
            elif any(ss.spans for rs in request.resource_spans for ss in rs.scope_spans):
                out.write(request)
    if dropped and (kept or not remove_empty):
        tmp.replace(path)
    elif dropped:  # nothing is left in it
        path.unlink()
    return dropped, kept
