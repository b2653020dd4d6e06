"""Resend: `realtrace replay` (and `pipeline.replay`), an OTLP JSON lines file sent again.
delivery chain as `convert`."""

from __future__ import annotations

import threading
import time

from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from pipeline.config import ReplayConfig
from pipeline.errors import ExitCode
from pipeline.records import SessionCounts, SessionSpans
from pipeline.redact import Redactor
from pipeline.report import RunStats, elapsed, exit_code_for
from pipeline.send.chain import NOTES
from pipeline.send.deliver import deliver
from pipeline.send.sinks import read_requests


def replay(cfg: ReplayConfig, stop: threading.Event | None = None) -> tuple[RunStats, ExitCode]:
    """Re-send an OTLP JSON lines file (dead letter or output), or a directory of part
    files (a Ray run's), through the same delivery chain as `convert`: batches to the
    current limits, retries, the run's retry budget, split on too large, partial-success
    accounting and the dead letter for what fails again.
    """
    cfg.validate()
    stop = stop or threading.Event()
    file, dest = cfg.file, cfg.destination
    files = sorted(file.glob("*.jsonl")) if file.is_dir() else [file]
    start = time.perf_counter()
    # All of the file readable before anything is sent; its spans grouped by resource
    # (as written) and by trace (the unit of accounting, as a session is for convert).
    groups: dict[bytes, tuple[Resource, dict[bytes, list[Span]]]] = {}
    requests = (request for f in files for _, request in read_requests(f))
    for request in requests:
        for rs in request.resource_spans:
            _, traces = groups.setdefault(rs.resource.SerializeToString(), (rs.resource, {}))
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    traces.setdefault(sp.trace_id, []).append(sp)
    dest.check(stop)  # the file is readable OTLP: now the endpoint, before sending
    stats = RunStats(files=len(files))
    redactor = Redactor(dest.secrets)
    with dest.open_chain(stop, redactor, append=True) as chain:
        for resource_, traces in groups.values():
            sessions = [_trace_as_session(tid, spans) for tid, spans in traces.items()]
            stats.sessions += len(sessions)
            stats.spans += sum(len(spans) for spans in traces.values())
            sent = deliver(
                sessions,
                chain,
                resource=_without_rejection(resource_),
                limits=cfg.limits,
                redactor=redactor,
                stop=stop,
                drain=True,  # stopped: the rest to the retry file, nothing left unaccounted
            )
            stats.absorb(sent)
    stats.wall_seconds = elapsed(start)
    code = exit_code_for(stats, strict=False)
    return stats, ExitCode.OK if code == ExitCode.NOTHING_TO_DO else code


def _without_rejection(resource: Resource) -> Resource:
    """The resource as first sent: a rejected-spans file notes the backend's message on it,
    a dead letter the destination it failed to reach."""
    clean = Resource()
    clean.CopyFrom(resource)
    keep = [kv for kv in clean.attributes if kv.key not in NOTES]
    del clean.attributes[:]
    clean.attributes.extend(keep)
    return clean


def _trace_as_session(trace_id: bytes, spans: list[Span]) -> SessionSpans:
    """A trace read back from OTLP JSON: the unit of accounting, as a session is for convert."""
    return SessionSpans(
        trace_id.hex(),
        trace_id,
        [sp.SerializeToString() for sp in spans],
        min(sp.start_time_unix_nano for sp in spans),
        max(sp.end_time_unix_nano for sp in spans),
        SessionCounts(),
        False,
    )
