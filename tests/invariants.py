"""The trace model's shape invariants, checked on decoded spans (see docs/trace-model.md).

Every test that produces spans runs these, so a change that breaks the shape of
any trace fails there, whatever that test itself looks at.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import defaultdict
from typing import Any

KINDS = {"session", "turn", "user_input", "transcription", "response", "tool", "app"}
# parent kind -> the kinds it may hold (app spans may sit under any span: trace model §5)
PARENTS = {
    "session": {"turn", "response"},
    "turn": {"user_input", "response", "tool"},
    "user_input": {"transcription"},
    "response": {"tool"},
    "tool": set(),
    "transcription": set(),
    "app": set(),
}
MODEL_KINDS = {"response", "transcription"}
MODEL_ATTRS = ("gen_ai.request.model", "gen_ai.provider.name")
FINISH_REASONS = {"stop", "length", "content_filter", "tool_call", "error"}
BT_TYPES = {"llm", "task", "tool", "function", "eval", "score"}
JSON_ATTRS = (
    "braintrust.input_json",
    "braintrust.output_json",
    "braintrust.metadata",
    "braintrust.metrics",
    "braintrust.span_attributes",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
)
TOKEN_METRICS = ("prompt_tokens", "completion_tokens", "tokens")


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [value]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return []


def _voice_problems(spans: list[dict[str, Any]]) -> list[str]:
    """Trace model §6: the counts a voice team reads agree with the spans they summarize."""
    out: list[str] = []
    root = next((s for s in spans if not s.get("parentSpanId")), None)
    if root is None:
        return out
    metrics = json.loads(root["_a"].get("braintrust.metrics", "{}"))
    states = [
        json.loads(s["_a"].get("braintrust.metadata", "{}")).get("status")
        for s in spans
        if s["_a"].get("realtrace.kind") == "response"
    ]
    if metrics.get("interruptions", 0) != states.count("interrupted"):
        out.append(
            f"root interruptions {metrics.get('interruptions')} != "
            f"{states.count('interrupted')} interrupted responses"
        )
    if metrics.get("cancelled_responses", 0) != states.count("cancelled"):
        out.append("root cancelled_responses disagrees with the cancelled responses")
    # conversation dynamics: overlap is speech of both parties at once, so never more than
    # either's; the longest silence is one of the silences; the talk ratio a fraction
    overlap = metrics.get("overlap_ms")
    if overlap is not None and overlap > min(
        metrics.get("user_speech_ms", 0), metrics.get("assistant_heard_ms", 0)
    ):
        out.append(f"overlap {overlap} ms exceeds a party's speech")
    if metrics.get("longest_silence_ms", 0) > metrics.get("silence_ms", 0):
        out.append("the longest silence is longer than all silence")
    if not 0 <= metrics.get("talk_ratio", 0) <= 1:
        out.append(f"talk ratio {metrics['talk_ratio']} is not a fraction")
    return out


def _trace_problems(spans: list[dict[str, Any]]) -> list[str]:
    out: list[str] = _voice_problems(spans)
    by_id = {s["spanId"]: s for s in spans}
    if len(by_id) != len(spans):
        out.append("duplicate span ids")
    roots = [s for s in spans if not s.get("parentSpanId")]
    if len(roots) != 1:
        out.append(f"{len(roots)} roots")
    for s in spans:
        a, name = s["_a"], s["name"]
        kind = a.get("realtrace.kind")
        if kind not in MODEL_KINDS and any(k in a for k in MODEL_ATTRS):
            out.append(f"{name}: model attributes on a {kind} span")
        if kind in MODEL_KINDS:
            meta = json.loads(a.get("braintrust.metadata", "{}"))
            if "provider" not in meta or ("model" in meta) != ("gen_ai.request.model" in a):
                out.append(f"{name}: an llm span without metadata.provider/model")
        if re.search(r"\s\d+$", name):
            out.append(f"{name}: a span name with an ordinal (names are stable per kind)")
        if kind == "tool" and not ("braintrust.output_json" in a or "gen_ai.tool.call.result" in a):
            out.append(f"{name}: a tool span without the tool's output")
        metrics = json.loads(a.get("braintrust.metrics", "{}"))
        if any(n < 0 for n in _numbers(metrics)):
            out.append(f"{name}: a negative metric {metrics}")
        start, end = int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"])
        if not re.fullmatch(r"[0-9a-f]{32}", s["traceId"]) or not re.fullmatch(
            r"[0-9a-f]{16}", s["spanId"]
        ):
            out.append(f"{name}: ids not lowercase hex")
        if a.get("realtrace.kind") not in KINDS:
            out.append(f"{name}: realtrace.kind {a.get('realtrace.kind')!r}")
        if end < start:
            out.append(f"{name}: ends before it starts")
        for key in JSON_ATTRS:
            if key in a:
                try:
                    json.loads(a[key])
                except (TypeError, ValueError):
                    out.append(f"{name}: {key} is not valid JSON")
        span_attrs = json.loads(a.get("braintrust.span_attributes", "{}"))
        if span_attrs.get("type") not in BT_TYPES:
            out.append(f"{name}: braintrust type {span_attrs.get('type')!r}")
        bad = set(a.get("gen_ai.response.finish_reasons") or []) - FINISH_REASONS
        if bad:
            out.append(f"{name}: finish reasons {sorted(bad)}")
        for key in ("gen_ai.input.messages", "gen_ai.output.messages"):
            for msg in json.loads(a.get(key, "[]")):
                if set(msg) - {"role", "parts", "finish_reason"} or not isinstance(
                    msg.get("parts"), list
                ):
                    out.append(f"{name}: {key} message not {{role, parts}}: {msg}")
        parent = by_id.get(s.get("parentSpanId") or "")
        if s.get("parentSpanId") and parent is None:
            out.append(f"{name}: dangling parent")
        if parent is not None and kind != "app":
            held = PARENTS.get(parent["_a"].get("realtrace.kind"), set())
            if kind not in held:
                out.append(f"{name}: a {kind} span under a {parent['_a'].get('realtrace.kind')}")
        if parent is None:
            metrics = json.loads(a.get("braintrust.metrics", "{}"))
            if any(k in metrics for k in TOKEN_METRICS):
                out.append(f"{name}: root repeats its children's token counts")
        elif not (
            int(parent["startTimeUnixNano"]) <= start and end <= int(parent["endTimeUnixNano"])
        ):
            out.append(f"{name}: not within its parent {parent['name']!r}")
        for ev in s.get("events", []):
            if not start <= int(ev["timeUnixNano"]) <= end:
                out.append(f"{name}: event {ev['name']!r} outside the span")
        out += _revision4_problems(s, name, kind, parent)
    turns = sorted(
        (s for s in spans if s["_a"].get("realtrace.kind") == "turn"),
        key=lambda s: int(s["startTimeUnixNano"]),
    )
    for x, y in itertools.pairwise(turns):
        if int(y["startTimeUnixNano"]) < int(x["endTimeUnixNano"]):
            out.append(f"{x['name']!r} overlaps {y['name']!r}")
    return out


SYNTHETIC_ID = ("resp_", "call_", "client:", "resp@")  # ids realtrace once made up


def _revision4_problems(
    s: dict[str, Any], name: str, kind: str | None, parent: dict[str, Any] | None
) -> list[str]:
    """Trace model §7: no synthetic ids, out-of-band responses never under a turn, what was
    heard never below a logged truncation point."""
    out: list[str] = []
    a = s["_a"]
    meta = json.loads(a.get("braintrust.metadata", "{}"))
    turn_id = meta.get("turn_id") if kind == "turn" else None
    if isinstance(turn_id, str) and turn_id.startswith(SYNTHETIC_ID):
        out.append(f"{name}: a made-up turn_id {turn_id!r}")
    oob = a.get("realtime.response.out_of_band")
    if oob and parent is not None and parent["_a"].get("realtrace.kind") == "turn":
        out.append(f"{name}: an out-of-band response under a turn")

    def parts(value: Any) -> list[dict[str, Any]]:
        if isinstance(value, dict):
            here = [value] if "truncated_at_ms" in value else []
            return here + [p for v in value.values() for p in parts(v)]
        if isinstance(value, list):
            return [p for v in value for p in parts(v)]
        return []

    for key in ("braintrust.output_json", "braintrust.metadata"):
        for p in parts(json.loads(a.get(key, "null"))):
            heard, cut = p.get("heard_ms"), p.get("truncated_at_ms")
            if isinstance(heard, int | float) and isinstance(cut, int | float) and heard < cut:
                out.append(f"{name}: heard {heard} ms, below the truncation at {cut} ms")
    return out


def problems(spans: list[dict[str, Any]]) -> list[str]:
    """Every invariant violation in decoded spans (conftest.read_spans), trace by trace."""
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in spans:
        by_trace[s["traceId"]].append(s)
    return [f"trace {tid[:8]}: {p}" for tid, ts in by_trace.items() for p in _trace_problems(ts)]


def audio_references(span: dict[str, Any]) -> list[Any]:
    """The `data` of every audio part in a span's payloads (`--audio`): a relative path, a
    Braintrust attachment reference, or base64."""
    found: list[Any] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for kind in ("audio", "input_audio"):
                part = v.get(kind)
                if isinstance(part, dict) and "data" in part:
                    found.append(part["data"])
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    for key in ("braintrust.input_json", "braintrust.output_json"):
        if key in span["_a"]:
            walk(json.loads(span["_a"][key]))
    return found


def audio_problems(
    spans: list[dict[str, Any]], audio_dir: Any = None, objects: Any = None
) -> list[str]:
    """Every audio reference names something that exists: a file under `audio_dir` (a WAV),
    an attachment key among `objects` (uploaded)."""
    out = []
    for s in spans:
        for ref in audio_references(s):
            if isinstance(ref, dict):
                if objects is None or ref.get("key") not in objects:
                    out.append(f"{s['name']}: attachment {ref.get('key')} was not uploaded")
            elif audio_dir is not None and not (audio_dir / ref).is_file():
                out.append(f"{s['name']}: audio file {ref} does not exist")
    return out
