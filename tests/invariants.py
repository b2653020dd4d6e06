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

KINDS = {"session", "turn", "user_input", "response", "tool", "app"}
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


def _trace_problems(spans: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    by_id = {s["spanId"]: s for s in spans}
    roots = [s for s in spans if not s.get("parentSpanId")]
    if len(roots) != 1:
        out.append(f"{len(roots)} roots")
    for s in spans:
        a, name = s["_a"], s["name"]
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
    turns = sorted(
        (s for s in spans if s["_a"].get("realtrace.kind") == "turn"),
        key=lambda s: int(s["startTimeUnixNano"]),
    )
    for x, y in itertools.pairwise(turns):
        if int(y["startTimeUnixNano"]) < int(x["endTimeUnixNano"]):
            out.append(f"{x['name']!r} overlaps {y['name']!r}")
    return out


def problems(spans: list[dict[str, Any]]) -> list[str]:
    """Every invariant violation in decoded spans (conftest.read_spans), trace by trace."""
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in spans:
        by_trace[s["traceId"]].append(s)
    return [f"trace {tid[:8]}: {p}" for tid, ts in by_trace.items() for p in _trace_problems(ts)]
