"""Convert: the engine-agnostic core, a frame of whole sessions → encoded spans per session.

Pure: no I/O and no global state, so a process pool or a Ray task calls it as is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import polars as pl

from pipeline.core.attributes import DEFAULT_MAPPING, AudioMode, MappingOptions
from pipeline.core.audio import SessionAudio, rebuild
from pipeline.core.ids import trace_id
from pipeline.core.model import SessionEvents
from pipeline.core.reconstruct import reconstruct
from pipeline.core.root import map_session, summarize
from pipeline.core.sessionize import SORT_KEYS, split_sessions
from pipeline.encode import span_bytes
from pipeline.private import safe_name
from pipeline.records import (
    Clip,
    Encoder,
    ReportHook,
    SessionCounts,
    SessionSpans,
    SpanRecord,
    Verdict,
)

CONVERSION_FAILED = "session conversion failed"  # the reject's kind (`Reject.kind`)


def convert_session(
    se: SessionEvents,
    options: MappingOptions = DEFAULT_MAPPING,
    encode: Encoder = span_bytes,
    report: ReportHook | None = None,
) -> SessionSpans:
    """One session's events → its spans, encoded; never raises.

    The safety net of trace model §2: every field read is type-tolerant, and a
    session whose conversion still fails comes back `failed`, with no spans and
    one reject naming it, so that every other session is still converted. `report`, when
    the run writes one, makes the session's part of it from the typed records.
    """
    try:
        t0 = time.perf_counter_ns()
        tree = reconstruct(se)
        t1 = time.perf_counter_ns()
        summary = summarize(tree)
        clips: list[Clip] = []
        parts: dict[str, Any] | None = None
        inline: dict[str, Any] | None = None
        if options.audio.keeps_payloads:
            audio = rebuild(tree, se)
            clips = audio.clips
            parts, inline = audio_parts(audio, options, tree.session_key)
            tree.stats.audio_clips, tree.stats.audio_skipped = len(clips), audio.skipped
        records = map_session(tree, options, summary, parts)
        t2 = time.perf_counter_ns()
        spans = [encode(r) for r in records]
        fallback: dict[int, bytes] = {}
        if inline is not None and clips:  # upload: the same spans with the audio inline
            alt = map_session(tree, options, summary, inline)
            fallback = {
                i: encode(b)
                for i, (a, b) in enumerate(zip(records, alt, strict=True))
                if a.attributes != b.attributes
            }
        counts = tree.stats
        counts.ns_reconstruct, counts.ns_attributes = t1 - t0, t2 - t1
        counts.ns_encode = time.perf_counter_ns() - t2
        root = tree.nodes[0]
        return SessionSpans(
            se.key,
            records[0].trace_id,
            spans,
            root.start_ns,
            root.end_ns,
            counts,
            root.incomplete,
            rejects=list(tree.problems),
            summary=summary,
            clips=clips if options.audio.ships_clips else [],
            inline_spans=fallback,
            report_part=_report_part(report, records),
        )
    except Exception as exc:  # a bug meeting an odd log: reported, the batch goes on
        reason = f"{CONVERSION_FAILED}: {se.key}: {type(exc).__name__}: {exc}"[:300]
        return SessionSpans(
            se.key,
            trace_id(se.key),
            [],
            se.first_ns,
            se.last_ns,
            SessionCounts(events=len(se.ts) + se.audio_events),
            False,
            rejects=[(se.first_file, se.first_line, reason)],
            failed=True,
        )


def _report_part(report: ReportHook | None, records: list[SpanRecord]) -> object | None:
    """The session's part of the run's report; a report that fails on it never fails the
    session's delivery (the collector then reads its encoded spans, or counts it left out)."""
    if report is None:
        return None
    try:
        return report(records)
    except Exception:
        return None


def audio_parts(
    audio: SessionAudio, options: MappingOptions, session_key: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Each clip's reference for its span's audio part, per `--audio`; with `upload`, also
    the inline base64 the spans fall back on. An inline clip over `audio_max_bytes` is left
    out and counted (it would not fit a request)."""
    refs: dict[str, Any] = {}
    inline: dict[str, Any] = {}
    for clip in audio.clips:
        if options.audio is AudioMode.DIR:
            refs[clip.span_key] = f"{safe_name(session_key)}/{clip.filename}"
            continue
        b64 = clip.b64
        if len(b64) <= options.audio_max_bytes:
            inline[clip.span_key] = b64
        else:
            audio.skip("too large to send inline")
        if options.audio == "upload":
            refs[clip.span_key] = {
                "type": "braintrust_attachment",
                "content_type": "audio/wav",
                "filename": clip.filename,
                "key": clip.key,
            }
    if options.audio == "inline":
        return inline, None
    return refs, inline if options.audio == "upload" else None


def convert_frame(
    sessions: pl.DataFrame,
    options: MappingOptions = DEFAULT_MAPPING,
    select: Callable[[SessionEvents], Verdict] | None = None,
    encode: Encoder = span_bytes,
    report: ReportHook | None = None,
) -> Iterator[SessionSpans]:
    """Events of whole sessions (with `session_key`, in any order) → one result per session.

    The only conversion path: in process, in a worker pool and in a Ray task. Each
    result carries its own counts (`counts`, `rejects`, `failed`) and the selection's
    verdict on it (`skipped`, `content_hash`, `changed`: `select` judges each session
    before it is converted: the run's `plan.Selector`), which the run folds
    (`RunStats.fold`). A skipped session comes back with no spans. Spans come out in
    the one encoding their destination needs (`encode`), as bytes: serialized protobuf
    for OTLP requests, OTLP/JSON for a file.
    """
    for se in split_sessions(sessions.sort(SORT_KEYS)):
        verdict = select(se) if select is not None else None
        if verdict is not None and verdict.skipped:
            sess = SessionSpans(se.key, b"", [], se.first_ns, se.last_ns, SessionCounts(), False)
        else:
            sess = convert_session(se, options, encode, report)
        if verdict is not None:
            sess.skipped, sess.content_hash = verdict.skipped, verdict.content_hash
            sess.changed = verdict.changed
        yield sess
