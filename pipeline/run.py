"""Run: one `realtrace convert` end to end (load → sessionize → convert → batch → send).

The I/O edge around the pure core: files in, output/rejects/report files and
network out, with the counts the summary and the exit code come from.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from .batch import make_batches
from .config import RunConfig
from .convert import RunStats, elapsed, iter_converted, load_sessions, write_rejects
from .encode import build_request, resource
from .sinks import JsonLinesFile

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
    res = resource(cfg.service_name)
    with JsonLinesFile(cfg.output) as out:
        out.touch()
        for batch in make_batches(sessions, cfg.max_batch_spans, cfg.max_batch_bytes):
            out.write(build_request(batch.spans, res))
            stats.requests += 1
            stats.spans_delivered += len(batch.spans)
    stats.sessions_delivered = stats.sessions
    stats.wall_seconds = elapsed(start)
    if cfg.report is not None:
        cfg.report.parent.mkdir(parents=True, exist_ok=True)
        cfg.report.write_text(json.dumps(stats.as_dict(), indent=2) + "\n", encoding="utf-8")
    return RunResult(stats, exit_code_for(stats, cfg.strict))


def exit_code_for(stats: RunStats, strict: bool) -> int:
    """0 all good; 3 some sessions not delivered; 4 nothing converted; 5 rejects under --strict."""
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
    if stats.rejects_by_reason:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(stats.rejects_by_reason.items()))
        lines.insert(2, f"rejected by reason:  {reasons}")
    return lines
