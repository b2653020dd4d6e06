"""App records (trace model §5): the application's own steps, validated into app span nodes.

An app record is a line the application logged next to the Realtime events (a
retrieval, an API call inside a tool). Validation returns a reason instead of a
node, so a bad record becomes a reject and never touches the Realtime spans.
"""

from __future__ import annotations

from typing import Any

from pipeline.core.events import num, parse_time, text
from pipeline.core.model import MISSING, AppFacts, Node, SpanKind
from pipeline.records import SpanEvent

SPAN_TYPES = ("function", "task", "tool", "llm", "score")


def app_session(record: dict[str, Any], metadata: dict[str, Any], tags: list[str]) -> str | None:
    """Fold an `app.session` record into the root's metadata and tags; a reason if it is bad."""
    meta = record.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        return "app record: metadata must be an object"
    new_tags = record.get("tags", [])
    if not isinstance(new_tags, list) or not all(isinstance(t, str) for t in new_tags):
        return "app record: tags must be a list of strings"
    metadata.update(meta or {})
    tags.extend(t for t in new_tags if t not in tags)
    return None


def _times(record: dict[str, Any], ts: int) -> tuple[int, int] | str:
    """(start, end): explicit times, else the record's timestamp is the end and
    `duration_ms` gives the start; a zero-length span at the timestamp when neither."""
    given: dict[str, int | None] = {}
    for key in ("start_time", "end_time"):
        if record.get(key) is not None:
            given[key] = parse_time(record[key])
            if given[key] is None:
                return f"app record: {key} is not a time"
    duration = record.get("duration_ms")
    dur_ns: int | None = None
    if duration is not None:
        d = num(duration)
        if d is None or d < 0:
            return "app record: duration_ms must be a non-negative number"
        dur_ns = int(d * 1_000_000)
    start, end = given.get("start_time"), given.get("end_time")
    if start is not None and end is not None:
        pass
    elif end is not None:
        start = end - (dur_ns or 0)
    elif start is not None:
        end = start + dur_ns if dur_ns is not None else ts
    else:
        end = ts
        start = ts - (dur_ns or 0)
    if end < start:
        return "app record: end_time before start_time"
    return start, end


def _facts(record: dict[str, Any]) -> AppFacts | str:
    etype = str(record.get("type") or "app.step")
    name = record.get("name", etype.removeprefix("app."))
    if not isinstance(name, str) or not name:
        return "app record: name must be a non-empty string"
    span_type = record.get("span_type", "function")
    if span_type not in SPAN_TYPES:
        return f"app record: span_type must be one of {', '.join(SPAN_TYPES)}"
    meta = record.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        return "app record: metadata must be an object"
    metrics = record.get("metrics")
    if metrics is not None and (
        not isinstance(metrics, dict) or any(num(v) is None for v in metrics.values())
    ):
        return "app record: metrics must be numbers"
    return AppFacts(
        name,
        span_type,
        record.get("input", MISSING),
        record.get("output", MISSING),
        meta,
        metrics,
        text(record.get("call_id")),
        text(record.get("response_id")),
        text(record.get("item_id")),
    )


def _error(record: dict[str, Any]) -> tuple[str, str] | None:
    err = record.get("error")
    if err is None or err is False:
        return None
    if isinstance(err, dict):
        return str(err.get("type") or "app_error"), str(err.get("message") or err)
    return "app_error", str(err)


def _parent(
    facts: AppFacts, start: int, end: int, nodes: dict[str, Node], turns: list[Node]
) -> str:
    """The span named by the record, else the turn open at its start, else the root;
    one level up (turn, then root) while the span does not fit inside."""
    parent: Node | None = None
    refs = (("tool", facts.call_id), ("response", facts.response_id), ("input", facts.item_id))
    for kind, ref in refs:
        if ref is not None and f"{kind}:{ref}" in nodes:
            parent = nodes[f"{kind}:{ref}"]
            break
    if parent is None:
        open_turns = [t for t in turns if t.start_ns <= start]
        parent = open_turns[-1] if open_turns else nodes["session"]
    while parent.parent is not None and not (parent.start_ns <= start and end <= parent.end_ns):
        parent = nodes[parent.parent]
    return parent.key


def app_node(
    record: dict[str, Any], ts: int, position: int, nodes: dict[str, Node], turns: list[Node]
) -> Node | str:
    """One app record → an `app` node placed in the tree, or the reason it is rejected."""
    facts = _facts(record)
    if isinstance(facts, str):
        return facts
    times = _times(record, ts)
    if isinstance(times, str):
        return times
    start, end = times
    root = nodes["session"]
    root.start_ns, root.end_ns = min(root.start_ns, start), max(root.end_ns, end)
    node = Node(
        f"app:{position}:{facts.name}",
        SpanKind.APP,
        _parent(facts, start, end, nodes, turns),
        start,
        end,
        facts,
        closed=True,
    )
    err = _error(record)
    if err is not None:
        kind, message = err
        node.events.append(
            SpanEvent("exception", end, {"exception.type": kind, "exception.message": message})
        )
        node.error = message
    return node
