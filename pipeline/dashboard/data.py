"""Report data: realtrace's traces (OTLP JSON spans) → the numbers and shapes a voice team
reads: a run summary, latency distributions, one row per session, one waterfall per session.

It reads the traces as any OTLP consumer would (span attributes, `braintrust.metrics` and
`metadata`), never the logs: what the page shows is what the backend received. Pure: spans
in, a `ReportData` out, which `page` turns into HTML and `to_json` into the report JSON.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from pipeline.core.attributes import TOKEN_METRICS as TOKEN_KEYS
from pipeline.core.conventions import CONVENTIONS, Convention
from pipeline.core.model import SPAN_KINDS as KINDS
from pipeline.core.model import SpanKind
from pipeline.core.root import percentile
from pipeline.errors import NotOtlpJsonError
from pipeline.records import SpanRecord

log = logging.getLogger("realtrace")


def _value(v: dict[str, Any]) -> Any:
    for k in ("stringValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    if "intValue" in v:
        return int(v["intValue"])
    if "arrayValue" in v:
        return [_value(x) for x in v["arrayValue"].get("values", [])]
    return None


# what the report reads of a span's attributes; the rest (prompts, histories) is let go as
# each span is read, so 10,000 sessions' report holds a few hundred bytes a span
READ = frozenset(
    {
        "realtrace.kind",
        "realtrace.session_key",
        "realtrace.incomplete",
        "realtrace.start_observed",
        "realtrace.speech.end_unix_nano",
        "realtrace.heard.start_unix_nano",
        "realtrace.heard.end_unix_nano",
        "realtime.audio_end_ms",
        "realtime.response.first_audio_unix_nano",
        "braintrust.metrics",
    }
)
METADATA_READ = ("model", "user_id", "status", "turn_index")


@dataclass(frozen=True, slots=True)
class _Keys:
    """What the report reads of a span's attributes, for the conventions registered: each
    one's messages (whichever the spans were written in, `--attributes`) are read only for
    the `--audio dir:` clips they name."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    payloads: frozenset[str]
    wanted: frozenset[str]


@functools.cache
def _keys_of(conventions: tuple[Convention, ...]) -> _Keys:
    inputs = tuple(c.input_key for c in conventions)
    outputs = tuple(c.output_key for c in conventions)
    payloads = frozenset(inputs + outputs)
    return _Keys(inputs, outputs, payloads, READ | payloads | {"braintrust.metadata"})


def _keys() -> _Keys:
    """The attributes read, from the registry as it is now (a convention added to
    `CONVENTIONS` is read with no change here)."""
    return _keys_of(tuple(CONVENTIONS.values()))


def _keep(attrs: dict[str, Any], key: str, value: Any, keys: _Keys) -> None:
    """One attribute of those `keys.wanted`, as the report keeps it: payloads only when they
    name a clip, metadata cut to the keys the report reads, the rest as it is."""
    if key in READ:
        attrs[key] = value
    elif key in keys.payloads:
        if isinstance(value, str) and ".wav" in value:
            attrs[key] = value
    else:  # braintrust.metadata
        try:
            meta = orjson.loads(value or "{}")
        except (TypeError, ValueError):
            return
        if isinstance(meta, dict):  # kept decoded: the report reads it a few times a span
            attrs[key] = {k: meta[k] for k in METADATA_READ if k in meta}


def slim(span: dict[str, Any]) -> dict[str, Any]:
    """A decoded span with only what the report reads: its ids, times, status, events' names
    and times, and the attributes the report reads (see `_keep`; metadata decoded)."""
    attrs: dict[str, Any] = {}
    keys = _keys()
    for a in span.get("attributes", []):
        if a["key"] in keys.wanted:
            _keep(attrs, a["key"], _value(a.get("value", {})), keys)
    out: dict[str, Any] = {k: span[k] for k in ("traceId", "spanId", "parentSpanId", "name", "startTimeUnixNano",
                                "endTimeUnixNano", "status") if k in span}  # fmt: skip
    out["events"] = [
        {"name": e.get("name", ""), "timeUnixNano": e["timeUnixNano"]}
        for e in span.get("events", [])
        if "timeUnixNano" in e
    ]
    out["attrs"] = attrs
    return out


def span_view(rec: SpanRecord) -> dict[str, Any]:
    """`slim` of a typed span record, without encoding it: what `slim` makes of the record's
    OTLP/JSON (`test_report` holds the two equal on every sample span, both conventions)."""
    attrs: dict[str, Any] = {}
    keys = _keys()
    for key, value in rec.attributes.items():
        if key in keys.wanted:
            _keep(attrs, key, value, keys)
    out: dict[str, Any] = {"traceId": rec.trace_id.hex(), "spanId": rec.span_id.hex()}
    if rec.parent_span_id:
        out["parentSpanId"] = rec.parent_span_id.hex()
    out["name"] = rec.name
    out["startTimeUnixNano"] = str(rec.start_ns)
    out["endTimeUnixNano"] = str(max(rec.end_ns, rec.start_ns))
    if rec.error is not None:
        out["status"] = {**({"message": rec.error} if rec.error else {}), "code": 2}
    out["events"] = [{"name": e.name, "timeUnixNano": str(e.time_ns)} for e in rec.events]
    out["attrs"] = attrs
    return out


def read_otlp_json(paths: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """Every span of OTLP JSON lines files (the file destination's format), decoded and
    slimmed to what the report reads (`slim`)."""
    for path in paths:
        with path.open("rb") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    doc = orjson.loads(line)
                except orjson.JSONDecodeError:
                    if not line.endswith(b"\n"):  # a write cut short (a killed run): left out
                        log.warning(
                            "%s: its last line is cut short (%d bytes): left out", path, len(line)
                        )
                        continue
                    raise NotOtlpJsonError(
                        f"{path} line {n} is not JSON: the report reads the OTLP JSON lines "
                        "realtrace writes (or logs)"
                    ) from None
                for rs in doc.get("resourceSpans", []):
                    for ss in rs.get("scopeSpans", []):
                        for span in ss.get("spans", []):
                            yield slim(span)


def is_otlp_json(path: Path) -> bool:
    """A file whose first line is an OTLP JSON export request (not a log)."""
    try:
        with path.open("rb") as f:
            first = f.readline()
        return b'"resourceSpans"' in first and isinstance(orjson.loads(first), dict)
    except (OSError, ValueError):
        return False


def _json_attr(span: dict[str, Any], key: str) -> dict[str, Any]:
    """A JSON object attribute (metrics; metadata comes decoded already), {} if it is none."""
    raw = span["attrs"].get(key)
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        return {}
    try:
        value = orjson.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


DYNAMICS = ("end_of_turn_delay", "perceived_latency", "barge_in_stop_time")


@dataclass(slots=True)
class SessionRow:
    key: str
    trace_id: str
    span_id: str  # the root's
    user_id: str | None
    model: str | None
    start_ns: int
    end_ns: int
    turns: int
    responses: int
    p95_s: float | None
    interruptions: int
    cancelled: int
    false_starts: int
    errors: int
    tokens: int
    incomplete: bool
    # conversation dynamics (root metrics), None where the log could not place them
    overlap_ms: float | None = None
    longest_silence_ms: float | None = None
    talk_ratio: float | None = None


@dataclass(slots=True)
class Summary:
    sessions: int = 0
    turns: int = 0
    responses: int = 0
    tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_cached_tokens: int = 0
    prompt_audio_tokens: int = 0
    completion_audio_tokens: int = 0
    errors: int = 0
    interrupted_responses: int = 0
    cancelled_responses: int = 0
    false_starts: int = 0
    sessions_incomplete: int = 0
    turns_without_latency: int = 0
    # responses whose start is not in the log: no TTFT or latency measured from them (§7)
    responses_start_not_logged: int = 0
    # turns where a dynamics figure applies but the log cannot place it (no appends, format
    # or playback facts): its distribution says how many it leaves out
    end_of_turn_delay_unknown: int = 0
    perceived_latency_unknown: int = 0
    barge_in_stop_time_unknown: int = 0
    first_event_ns: int | None = None
    last_event_ns: int | None = None


@dataclass(slots=True)
class ReportData:
    """Everything the page shows, in plain values (its JSON is the report JSON)."""

    summary: Summary = field(default_factory=Summary)
    sessions: list[SessionRow] = field(default_factory=list)
    # one point per turn with a latency: (seconds, model, the turn called a tool)
    latencies: list[tuple[float, str, bool]] = field(default_factory=list)
    # one point per response with a time to first token: (seconds, model)
    ttfts: list[tuple[float, str]] = field(default_factory=list)
    # per session (same order as `sessions`): its spans as compact rows (see `_waterfall`)
    waterfalls: list[list[list[Any]]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # the span names the waterfalls index
    # per turn that has it (seconds): the dynamics' distributions
    dynamics: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in DYNAMICS})
    # per session: its conversation lane, ms from its start: caller speech and assistant
    # audio as flat [start, end, ...] lists, and the moments the agent stopped for a barge-in
    lanes: list[list[list[int]]] = field(default_factory=list)
    audio: dict[str, dict[str, str]] = field(default_factory=dict)  # session → turn → file
    trace_url: str | None = None  # a link per session: {trace_id}, {span_id}, {session_key}
    older_copies: int = 0  # earlier copies of traces written again, set aside


@dataclass(frozen=True, slots=True)
class SessionPart:
    """One session's share of the report (its row, waterfall, latency points, clips), made
    where its spans are: folded into the run's report in start order (`ReportBuilder`)."""

    start_ns: int
    trace_id: str
    data: ReportData


def session_part(trace: list[dict[str, Any]]) -> SessionPart | None:
    """A session's report part from its spans (`slim`/`span_view`); None when they are not
    one whole trace of realtrace's."""
    roots = [s for s in trace if not s.get("parentSpanId")]
    if len(roots) != 1:
        return None
    tid = roots[0]["traceId"]
    data = ReportData()
    names: dict[str, int] = {}
    _add_session(data, tid, roots[0], trace, names)
    data.names = list(names)
    return SessionPart(int(roots[0]["startTimeUnixNano"]), tid, data)


def record_part(records: list[SpanRecord]) -> SessionPart | None:
    """A session's report part from its typed span records, as the core made them (the
    run's report: `convert --html`, `report` on logs), never from their encoded bytes."""
    return session_part([span_view(r) for r in records])


class ReportBuilder:
    """The report built a session at a time: each whole trace is folded into its own small
    part (`SessionPart`) as it comes, and its spans can go; the parts are put in start
    order at the end. `convert --html` keeps no span of the run."""

    def __init__(self) -> None:
        self._parts: dict[str, SessionPart] = {}
        self.older_copies = 0

    def add_spans(self, spans: Iterable[dict[str, Any]]) -> None:
        """Every trace among `spans` (decoded, `slim`), in any order.

        A trace may be written more than once (a file destination appended to by `--full`,
        after `state forget`, or with a changed session sent again): its latest copy counts,
        span by span (ids are deterministic, so a later copy replaces each span of an
        earlier one), and `older_copies` says how many earlier copies were set aside."""
        by_trace: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        roots_seen: dict[str, int] = defaultdict(int)
        for span in spans:
            tid = span["traceId"]
            by_trace[tid][span["spanId"]] = span  # the latest copy of each span wins
            if not span.get("parentSpanId"):
                roots_seen[tid] += 1
        for tid, kept in by_trace.items():
            part = session_part(list(kept.values()))
            if part is not None:
                self.add_part(part)
                self.older_copies += roots_seen[tid] - 1

    def add_part(self, part: SessionPart) -> None:
        """One session's part; a later part of the same trace replaces the earlier one."""
        if part.trace_id in self._parts:
            self.older_copies += 1
        self._parts[part.trace_id] = part

    def finish(self) -> ReportData:
        data = ReportData(older_copies=self.older_copies)
        names: dict[str, int] = {}
        s = data.summary
        ordered = sorted(self._parts.values(), key=lambda p: (p.start_ns, p.trace_id))
        for part in (p.data for p in ordered):
            remap = [names.setdefault(n, len(names)) for n in part.names]
            for row in part.waterfalls[0]:
                row[1] = remap[row[1]]
            data.sessions += part.sessions
            data.waterfalls += part.waterfalls
            data.latencies += part.latencies
            data.ttfts += part.ttfts
            data.lanes += part.lanes
            for k in DYNAMICS:
                data.dynamics[k] += part.dynamics[k]
            data.audio.update(part.audio)
            p = part.summary
            for k in Summary.__slots__:
                mine, theirs = getattr(s, k), getattr(p, k)
                if k == "first_event_ns":
                    setattr(s, k, theirs if mine is None else min(mine, theirs))
                elif k == "last_event_ns":
                    setattr(s, k, theirs if mine is None else max(mine, theirs))
                else:
                    setattr(s, k, mine + theirs)
        data.names = list(names)
        self._parts = {}
        return data


def _add_session(
    data: ReportData,
    tid: str,
    root: dict[str, Any],
    trace: list[dict[str, Any]],
    names: dict[str, int],
) -> None:
    s = data.summary
    rm, meta = _json_attr(root, "braintrust.metrics"), _json_attr(root, "braintrust.metadata")
    start, end = int(root["startTimeUnixNano"]), int(root["endTimeUnixNano"])
    model = meta.get("model") if isinstance(meta.get("model"), str) else None
    by_id = {x["spanId"]: x for x in trace}
    tokens = 0
    with_tools = {
        k.get("parentSpanId") for k in trace if k["attrs"].get("realtrace.kind") == "tool"
    }
    lane: list[list[int]] = [[], [], []]  # caller speech, assistant audio, barge-in stops
    spoken: dict[str, dict[str, Any]] = {}  # turn span id → its user input
    turns: list[tuple[str, dict[str, Any]]] = []

    def ms(ns: Any) -> int:  # from the session's start
        return round((int(ns) - start) / 1e6)

    for span in trace:
        kind = span["attrs"].get("realtrace.kind")
        metrics = _json_attr(span, "braintrust.metrics")
        if kind in (SpanKind.RESPONSE, SpanKind.TRANSCRIPTION):
            for key in TOKEN_KEYS:
                value = metrics.get(key)
                if isinstance(value, int | float):
                    setattr(s, key, getattr(s, key) + int(value))
            tokens += int(metrics.get("tokens") or 0)
        if kind == SpanKind.RESPONSE:
            s.responses_start_not_logged += span["attrs"].get("realtrace.start_observed") is False
            ttft = metrics.get("time_to_first_token")
            if isinstance(ttft, int | float):
                data.ttfts.append((round(float(ttft), 3), model or "unknown"))
            heard = (span["attrs"].get(f"realtrace.heard.{e}_unix_nano") for e in ("start", "end"))
            lane[1] += [ms(x) for x in heard if isinstance(x, int)]
        elif kind == SpanKind.USER_INPUT:
            spoken[span.get("parentSpanId", "")] = span
            said_to = span["attrs"].get("realtrace.speech.end_unix_nano")
            if isinstance(said_to, int):  # the speech on the audio clock: span start to this
                lane[0] += [ms(span["startTimeUnixNano"]), ms(said_to)]
        elif kind == SpanKind.TURN:
            latency = metrics.get("voice_to_voice_latency")
            if isinstance(latency, int | float):
                tool = span["spanId"] in with_tools or "tool_time" in metrics
                data.latencies.append((round(float(latency), 3), model or "unknown", tool))
            turns.append((span["spanId"], metrics))
    for turn_id, metrics in turns:
        _turn_dynamics(data, metrics, spoken.get(turn_id), lane, ms)
    for i in (0, 1):  # intervals in time order, however the trace's spans came
        pairs = sorted(zip(lane[i][::2], lane[i][1::2], strict=True))
        lane[i] = [x for pair in pairs for x in pair]
    lane[2].sort()
    row = SessionRow(
        key=str(root["attrs"].get("realtrace.session_key") or tid),
        trace_id=tid,
        span_id=str(root.get("spanId", "")),
        user_id=meta.get("user_id") if isinstance(meta.get("user_id"), str) else None,
        model=model,
        start_ns=start,
        end_ns=end,
        turns=int(rm.get("turns") or 0),
        responses=int(rm.get("responses") or 0),
        p95_s=rm.get("voice_to_voice_latency_p95"),
        interruptions=int(rm.get("interruptions") or 0),
        cancelled=int(rm.get("cancelled_responses") or 0),
        false_starts=int(rm.get("false_starts") or 0),
        errors=int(rm.get("errors") or 0),
        tokens=tokens,
        incomplete=bool(root["attrs"].get("realtrace.incomplete")),
        overlap_ms=_number(rm.get("overlap_ms")),
        longest_silence_ms=_number(rm.get("longest_silence_ms")),
        talk_ratio=_number(rm.get("talk_ratio")),
    )
    data.sessions.append(row)
    data.lanes.append(lane)
    s.barge_in_stop_time_unknown += max(0, row.interruptions - len(lane[2]))
    data.waterfalls.append(_waterfall(trace, root, by_id, names))
    clips = _audio_files(trace, by_id)
    if clips:
        data.audio[row.key] = clips
    s.sessions += 1
    s.turns += row.turns
    s.responses += row.responses
    s.errors += row.errors
    s.interrupted_responses += row.interruptions
    s.cancelled_responses += row.cancelled
    s.false_starts += row.false_starts
    s.sessions_incomplete += row.incomplete
    s.turns_without_latency += int(rm.get("turns_without_latency") or 0)
    s.first_event_ns = start if s.first_event_ns is None else min(s.first_event_ns, start)
    s.last_event_ns = end if s.last_event_ns is None else max(s.last_event_ns, end)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _turn_dynamics(
    data: ReportData,
    metrics: dict[str, Any],
    said: dict[str, Any] | None,
    lane: list[list[int]],
    ms: Callable[[Any], int],
) -> None:
    """A turn's dynamics into their distributions, counting the turns where one applies but
    is unknown; a barge-in's stop (the caller's speech start + the stop time) into the lane."""
    s = data.summary
    for key in DYNAMICS:
        value = _number(metrics.get(key))
        if value is not None:
            data.dynamics[key].append(round(value, 3))
    spoke = said is not None and "realtime.audio_end_ms" in said["attrs"]
    if spoke and "end_of_turn_delay" not in metrics:
        s.end_of_turn_delay_unknown += 1
    if "voice_to_voice_latency" in metrics and "perceived_latency" not in metrics:
        s.perceived_latency_unknown += 1
    stop = _number(metrics.get("barge_in_stop_time"))
    if stop is not None and said is not None:
        lane[2].append(ms(said["startTimeUnixNano"]) + round(stop * 1000))


# waterfall row: [kind, name index, start ms, duration ms, parent row, flags, first audio ms
# (-1: none), then each event's name and ms]; flags: 1 error, 2 interrupted, 4 incomplete,
# 8 cancelled
ERROR, INTERRUPTED, INCOMPLETE, CANCELLED = 1, 2, 4, 8


def _waterfall(
    trace: list[dict[str, Any]],
    root: dict[str, Any],
    by_id: dict[str, dict[str, Any]],
    names: dict[str, int],
) -> list[list[Any]]:
    """A session's spans in depth-first start order, times in ms from the session's start."""
    t0 = int(root["startTimeUnixNano"])
    kids: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for span in trace:
        if span.get("parentSpanId") in by_id:
            kids[span["parentSpanId"]].append(span)
    out: list[list[Any]] = []

    def ms(ns: int) -> int:
        return round((ns - t0) / 1e6)

    def visit(span: dict[str, Any], parent: int) -> None:
        a = span["attrs"]
        meta = _json_attr(span, "braintrust.metadata")
        state = meta.get("status") if a.get("realtrace.kind") == "response" else None
        flags = (
            ERROR * (span.get("status", {}).get("code") == 2)
            | INTERRUPTED * (state == "interrupted")
            | CANCELLED * (state == "cancelled")
            | INCOMPLETE * bool(a.get("realtrace.incomplete"))
        )
        first_audio = a.get("realtime.response.first_audio_unix_nano")
        name = span["name"]
        if a.get("realtrace.kind") == "turn":  # "turn 12": a long call's turns told apart
            number = _json_attr(span, "braintrust.metadata").get("turn_index")
            name += f" {number}" if isinstance(number, int) else ""
        index = names.setdefault(name, len(names))
        start, end = int(span["startTimeUnixNano"]), int(span["endTimeUnixNano"])
        me = len(out)
        row: list[Any] = [
            KINDS.index(a.get("realtrace.kind")) if a.get("realtrace.kind") in KINDS else 6,
            index,
            ms(start),
            round((end - start) / 1e6),
            parent,
            flags,
            ms(first_audio) if isinstance(first_audio, int) else -1,
        ]
        for e in span.get("events", []):  # then name, ms for each event
            row += [e.get("name", ""), ms(int(e["timeUnixNano"]))]
        out.append(row)
        for kid in sorted(kids[span["spanId"]], key=lambda k: int(k["startTimeUnixNano"])):
            visit(kid, me)

    visit(root, -1)
    return out


def _wav_refs(value: Any) -> Iterator[str]:
    """The `--audio dir:` paths in a payload: the `data` of its audio parts, in Braintrust's
    shapes (`audio`/`input_audio` objects) or the GenAI conventions' (`{type: audio, data}`)."""
    if isinstance(value, dict):
        found = [value.get(k, {}).get("data") for k in ("audio", "input_audio")
                 if isinstance(value.get(k), dict)]  # fmt: skip
        if value.get("type") == "audio":
            found.append(value.get("data"))
        for ref in found:
            if isinstance(ref, str) and ref.endswith(".wav") and len(ref) < 300:
                yield ref
        for v in value.values():
            yield from _wav_refs(v)
    elif isinstance(value, list):
        for v in value:
            yield from _wav_refs(v)


def _audio_files(trace: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]) -> dict[str, str]:
    """`--audio dir:` files the session's spans name (relative to that directory), labelled
    by turn and speaker, in turn order."""
    found: list[tuple[int, int, str, str]] = []
    registered = _keys()
    for span in trace:
        kind = span["attrs"].get("realtrace.kind")
        if kind not in (SpanKind.USER_INPUT, SpanKind.RESPONSE):
            continue
        keys = registered.inputs if kind == SpanKind.USER_INPUT else registered.outputs
        text = next((span["attrs"][k] for k in keys if span["attrs"].get(k)), None)
        try:
            payload = orjson.loads(text or "null")
        except ValueError:
            continue
        turn = _json_attr(
            by_id.get(span.get("parentSpanId", ""), {"attrs": {}}), "braintrust.metadata"
        )
        who = "user" if kind == SpanKind.USER_INPUT else "assistant"
        start = int(span["startTimeUnixNano"])
        found += [(int(turn.get("turn_index") or 0), start, who, ref) for ref in _wav_refs(payload)]
    found.sort()
    return {
        f"turn {i} {who}" + (f" ({n})" if n else ""): ref
        for n, (i, _, who, ref) in _numbered(found)
    }


def _numbered(
    found: list[tuple[int, int, str, str]],
) -> list[tuple[int, tuple[int, int, str, str]]]:
    """A second reply in one turn gets a number, so no label hides another."""
    seen: dict[tuple[int, str], int] = {}
    out = []
    for item in found:
        n = seen[(item[0], item[2])] = seen.get((item[0], item[2]), 0) + 1
        out.append((n if n > 1 else 0, item))
    return out


def to_json(data: ReportData) -> dict[str, Any]:
    """The report as JSON: the numbers its summary shows, and the page's data in columns (a
    list per field, strings as indexes into a table): 10,000 sessions stay a few MB."""
    s = data.summary
    lat = [x[0] for x in data.latencies]
    ttft = [x[0] for x in data.ttfts]
    models = sorted({m for _, m, _ in data.latencies} | {m for _, m in data.ttfts})
    index = {m: i for i, m in enumerate(models)}
    return {
        "summary": {
            **{k: getattr(s, k) for k in Summary.__slots__},
            "voice_to_voice_latency": {
                f"p{int(q * 100)}": percentile(lat, q) for q in (0.5, 0.9, 0.95, 0.99)
            },
            "time_to_first_token": {
                f"p{int(q * 100)}": percentile(ttft, q) for q in (0.5, 0.9, 0.95, 0.99)
            },
        },
        "sessions": {k: [getattr(r, k) for r in data.sessions] for k in SessionRow.__slots__},
        "models": models,
        "latencies": {
            "s": lat,
            "model": [index[m] for _, m, _ in data.latencies],
            "tool": [int(t) for _, _, t in data.latencies],
        },
        "ttfts": {"s": ttft, "model": [index[m] for _, m in data.ttfts]},
        "dynamics": {
            k: {
                "s": v,
                **{f"p{int(q * 100)}": percentile(v, q) for q in (0.5, 0.9, 0.95, 0.99)},
            }
            for k, v in data.dynamics.items()
        },
        "lanes": data.lanes,
        "waterfalls": data.waterfalls,
        "names": data.names,
        "kinds": KINDS,
        "audio": data.audio,
        "trace_url": data.trace_url,
    }


def session_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The report JSON's sessions as one object each (its columns zipped)."""
    cols = doc["sessions"]
    return [dict(zip(cols, values, strict=True)) for values in zip(*cols.values(), strict=True)]
