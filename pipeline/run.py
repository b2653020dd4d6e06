"""Run: one `realtrace convert` end to end (load → sessionize → convert → batch → send).

The I/O edge around the pure core: files in, output/rejects/report files and
network out, with the counts the summary and the exit code come from.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from .batch import split_spans
from .config import ExportConfig, RunConfig
from .convert import RunStats, elapsed, iter_converted, load_sessions, write_rejects
from .deliver import deliver
from .encode import build_request, resource
from .export import Exporter
from .redact import Redactor
from .sinks import JsonLinesFile, read_requests
from .transport import make_transport

EXIT_OK = 0
EXIT_NOT_DELIVERED = 3
EXIT_NOTHING_CONVERTED = 4
EXIT_CONFIG = 2
EXIT_STRICT_REJECTS = 5


@dataclass(slots=True)
class RunResult:
    stats: RunStats
    exit_code: int


def run_convert(cfg: RunConfig) -> RunResult:
    """Convert all inputs and write or export them; never raises on bad input lines."""
    start = time.perf_counter()
    cfg.validate()
    frame, rejects, stats = load_sessions(list(cfg.inputs), cfg.timestamp_fields)
    write_rejects(cfg.rejects_path, rejects)
    sessions = iter_converted(frame, cfg.mapping, stats)
    errors: list[str] = []
    deliver(
        sessions,
        resource=resource(cfg.service_name),
        stats=stats,
        output=cfg.output,
        export=cfg.export,
        dead_letter=cfg.dead_letter_path,
        max_batch_spans=cfg.max_batch_spans,
        max_batch_bytes=cfg.max_batch_bytes,
        errors=errors,
    )
    stats.errors = errors
    stats.wall_seconds = elapsed(start)
    if cfg.report is not None:
        cfg.report.parent.mkdir(parents=True, exist_ok=True)
        cfg.report.write_text(json.dumps(stats.as_dict(), indent=2) + "\n", encoding="utf-8")
    return RunResult(stats, exit_code_for(stats, cfg.strict))


def replay(file: Path, export: ExportConfig, dead_letter: Path) -> tuple[RunStats, int]:
    """Re-send an OTLP JSON lines file (dead letter or output), request by request.

    Requests are re-batched to the current size limits; spans failing again go
    to `dead_letter`, so nothing is lost between attempts.
    """
    start = time.perf_counter()
    stats = RunStats(files=1)
    errors: list[str] = []
    redactor = Redactor(export.secrets)
    transport = make_transport(export, redactor)
    exporter = Exporter(transport, export, Resource())
    traces: set[bytes] = set()
    try:
        with JsonLinesFile(dead_letter) as dead:
            for _, request in read_requests(file):
                for rs in request.resource_spans:
                    spans = [sp for ss in rs.scope_spans for sp in ss.spans]
                    traces.update(sp.trace_id for sp in spans)
                    stats.spans += len(spans)
                    exporter.resource = rs.resource
                    for batch in split_spans(spans, export.max_batch_spans, export.max_batch_bytes):
                        outcome = exporter.export_batch(batch)
                        stats.requests += outcome.requests
                        stats.retries += outcome.retries
                        stats.spans_delivered += outcome.delivered
                        stats.spans_rejected_by_backend += outcome.rejected
                        if outcome.failed:
                            dead.write(build_request(outcome.failed, rs.resource))
                            stats.spans_dead_lettered += len(outcome.failed)
                        if outcome.error and outcome.error not in errors:
                            errors.append(outcome.error)
                        if outcome.auth_failed:
                            stats.credentials_refused = True
                            raise _Abort
    except _Abort:
        errors.append("replay stopped: the endpoint refused the credentials")
    finally:
        transport.close()
    if not stats.spans_dead_lettered and dead_letter.exists() and dead_letter.stat().st_size == 0:
        dead_letter.unlink()
    stats.sessions = len(traces)
    stats.errors = errors
    stats.wall_seconds = elapsed(start)
    code = (
        EXIT_CONFIG
        if stats.credentials_refused
        else (EXIT_NOT_DELIVERED if stats.spans_dead_lettered else EXIT_OK)
    )
    return stats, code


class _Abort(Exception):
    pass


def exit_code_for(stats: RunStats, strict: bool) -> int:
    """2 credentials refused; 3 some sessions not delivered; 4 nothing converted; 5 rejects under --strict."""
    if stats.credentials_refused:
        return EXIT_CONFIG
    if stats.sessions_failed or stats.spans_dead_lettered:
        return EXIT_NOT_DELIVERED
    if stats.sessions == 0 and stats.sessions_skipped == 0:
        return EXIT_NOTHING_CONVERTED
    if strict and stats.rejected_lines:
        return EXIT_STRICT_REJECTS
    return EXIT_OK


def summary_lines(stats: RunStats) -> list[str]:
    """The short human summary printed at the end of a run."""
    lines = [
        f"files read:          {stats.files}",
        f"lines read:          {stats.lines_read} ({stats.events} events, {stats.rejected_lines} rejected, {stats.blank_lines} blank)",
        f"unknown event types: {stats.unknown_events}",
        f"sessions:            {stats.sessions} converted ({stats.sessions_incomplete} incomplete), {stats.sessions_skipped} skipped (already delivered)",
        f"spans:               {stats.spans} ({stats.spans_delivered} delivered, {stats.spans_dead_lettered} dead-lettered, {stats.spans_rejected_by_backend} rejected by backend)",
        f"requests:            {stats.requests} ({stats.retries} retries)",
        f"wall time:           {stats.wall_seconds:.2f} s",
    ]
    if stats.spans_dead_lettered:
        lines.append(
            f"not delivered:       {stats.sessions_failed} sessions, {stats.spans_dead_lettered} spans in the dead-letter file"
        )
    lines += [f"error:               {e}" for e in stats.errors]
    if stats.rejects_by_reason:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(stats.rejects_by_reason.items()))
        lines.insert(2, f"rejected by reason:  {reasons}")
    return lines
