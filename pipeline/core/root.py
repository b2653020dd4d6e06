"""Root: the session's root span (its totals, configuration and whole conversation) and
the mapping of a whole session, root first.

Token counts are in the root's metadata, never its metrics: Braintrust sums the
metrics of a trace's spans, and the responses already carry theirs.
"""

from __future__ import annotations

import math
from typing import Any

from pipeline.core.attributes import (
    DEFAULT_MAPPING,
    MAPPERS,
    Mapping,
    MappingOptions,
    SpanDraft,
    compact,
    usage_metrics,
)
from pipeline.core.events import obj
from pipeline.core.model import (
    InputFacts,
    ResponseFacts,
    SessionDynamics,
    SessionTree,
    SpanKind,
    TranscriptionFacts,
    TurnFacts,
)
from pipeline.records import SessionSummary, SpanRecord


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (no interpolation: a reported latency was observed); None of
    no values. The one definition: the root's metrics and the report use it alike."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * q)) - 1]


def _session_facts(tree: SessionTree) -> dict[str, Any]:
    cfg = tree.session.config
    audio = obj(cfg, "audio")
    a_in, a_out = obj(audio, "input"), obj(audio, "output")
    tools = [t.get("name") for t in cfg.get("tools") or [] if isinstance(t, dict) and t.get("name")]
    return compact(
        {
            "model": cfg.get("model"),
            "voice": cfg.get("voice") or a_out.get("voice"),
            "modalities": cfg.get("modalities") or cfg.get("output_modalities"),
            "turn_detection": cfg.get("turn_detection") or a_in.get("turn_detection"),
            "input_audio_format": cfg.get("input_audio_format") or a_in.get("format"),
            "output_audio_format": cfg.get("output_audio_format") or a_out.get("format"),
            "input_audio_transcription": cfg.get("input_audio_transcription")
            or a_in.get("transcription"),
            "tools": tools if isinstance(cfg.get("tools"), list) else None,
            "instructions": cfg.get("instructions"),
        }
    )


def transcription_only(tree: SessionTree) -> bool:
    """A session that only transcribes (GA `session.type: transcription`, or no response
    ever asked for): no reply is missing in it (§7)."""
    if tree.session.config.get("type") == "transcription":
        return True
    return not any(n.kind == SpanKind.RESPONSE for n in tree.nodes)


def summarize(tree: SessionTree) -> SessionSummary:
    """The session's totals from its nodes' facts (turns, responses, tokens, latencies).
    Tokens count every billed model call, transcriptions included: one figure for the root,
    `inspect` and the report (§7)."""
    out = SessionSummary(errors=tree.stats.errors)
    answered: set[str] = set()  # turns with a response
    for node in tree.nodes:
        if node.kind in (SpanKind.RESPONSE, SpanKind.TRANSCRIPTION):
            raw = (
                node.facts_as(ResponseFacts).usage
                if node.kind == SpanKind.RESPONSE
                else node.facts_as(TranscriptionFacts).usage
            )
            usage = usage_metrics(raw or {})
            out.responses_with_usage += bool(usage)
            out.total_tokens += int(usage.get("tokens", 0))
            out.input_tokens += int(usage.get("prompt_tokens", 0))
            out.output_tokens += int(usage.get("completion_tokens", 0))
        if node.kind == SpanKind.RESPONSE:
            out.responses += 1
            facts = node.facts_as(ResponseFacts)
            state = facts.state
            out.interruptions += state == "interrupted"
            out.cancelled_responses += state == "cancelled"
            answered.add(node.parent or "")
        elif node.kind == SpanKind.TURN:
            turn = node.facts_as(TurnFacts)
            out.turns += 1
            if turn.voice_latency_s is not None:
                out.voice_latencies_s.append(turn.voice_latency_s)
            elif turn.input_end_ns is not None:  # the user spoke (or wrote); no reply measured
                out.turns_without_latency += 1
    if transcription_only(tree):  # nothing was to be answered: nothing is missing
        out.turns_without_latency = 0
        return out
    out.false_starts = sum(  # the user's input was taken (no error) and nothing answered it
        1
        for n in tree.nodes
        if n.kind == SpanKind.USER_INPUT
        and n.parent not in answered
        and n.error is None
        and _ended(n.facts_as(InputFacts))
    )
    return out


def _ended(facts: InputFacts) -> bool:
    """The user's input ended (speech stopped, a commit, a typed message): speech that never
    ended, a VAD that never fired, is no false start (§7)."""
    return (
        facts.source != "audio"
        or facts.speech_stopped_ns is not None
        or facts.committed_ns is not None
    )


def _dynamics(d: SessionDynamics) -> dict[str, float | None]:
    """The session's speech, overlap and silence (ms) and talk ratio, where known."""
    ms = {
        "user_speech_ms": d.user_speech_ms,
        "assistant_heard_ms": d.assistant_heard_ms,
        "overlap_ms": d.overlap_ms,
        "silence_ms": d.silence_ms,
        "longest_silence_ms": d.longest_silence_ms,
    }
    out: dict[str, float | None] = {k: None if v is None else round(v, 3) for k, v in ms.items()}
    out["talk_ratio"] = None if d.talk_ratio is None else round(d.talk_ratio, 4)
    return out


def _root(tree: SessionTree, m: Mapping, summary: SessionSummary) -> SpanRecord:
    root = tree.nodes[0]
    s = tree.session
    totals = {
        "total_tokens": summary.total_tokens,
        "input_tokens": summary.input_tokens,
        "output_tokens": summary.output_tokens,
    }
    latencies = summary.voice_latencies_s
    history = m.book.messages(s.order)
    metrics = compact(
        {
            "turns": summary.turns,
            "responses": summary.responses,
            "interruptions": summary.interruptions,
            "cancelled_responses": summary.cancelled_responses,
            "false_starts": summary.false_starts,
            "total_messages": len(history),
            "audio_input_ms": round(s.audio_in_ms, 3) if s.audio_in_ms is not None else None,
            "audio_output_ms": round(s.audio_out_ms, 3) if s.audio_out_ms is not None else None,
            "errors": summary.errors,
            "session_duration_ms": (root.end_ns - root.start_ns) / 1e6,
            "voice_to_voice_latency_p50": percentile(latencies, 0.5),
            "voice_to_voice_latency_p95": percentile(latencies, 0.95),
            "turns_without_latency": summary.turns_without_latency,
            **_dynamics(s.dynamics),
        }
    )
    meta = compact(
        {
            "session_id": s.realtime_id,
            "session_key": tree.session_key,
            "session_type": "transcription" if transcription_only(tree) else None,
            **_session_facts(tree),
            **s.metadata,
            **s.app_metadata,
            **(totals if summary.responses_with_usage else {}),
            "unknown_events": tree.stats.unknown_events or None,
            "duplicate_events": tree.stats.duplicate_events or None,
            "conversation_history": history,
        }
    )
    name = m.options.root_name
    draft = SpanDraft(name, "task", metrics=metrics, meta=meta)
    users = [msg for msg in history if msg["role"] == "user"]
    said = [msg for msg in history if msg["role"] == "assistant" and msg.get("content")]
    m.payload(draft, users or None, said or None)
    flags = {
        "interrupted": summary.interruptions > 0,
        "error": summary.errors > 0,
        "incomplete": root.incomplete,
    }
    tags = [
        "realtime",
        *([m.model] if m.model else []),
        *(flag for flag, on in flags.items() if on),
        *s.app_tags,
        *m.options.tags,
    ]
    draft.attrs = {
        "realtrace.session_key": tree.session_key,
        "realtrace.events": tree.stats.events,
        **draft.attrs,
        "braintrust.tags": list(dict.fromkeys(tags)),
    }
    return m.record(root, draft)


def map_session(
    tree: SessionTree,
    options: MappingOptions = DEFAULT_MAPPING,
    summary: SessionSummary | None = None,
    audio: dict[str, Any] | None = None,
) -> list[SpanRecord]:
    """Nodes of one session → exportable span records, root first. Pure. `audio`: span key →
    the `data` of its audio part (base64, a relative path or an attachment reference)."""
    m = Mapping(tree, options)
    m.audio = audio or {}
    spans = [m.record(n, MAPPERS[n.kind](n, m)) for n in tree.nodes[1:]]
    return [_root(tree, m, summary or summarize(tree)), *spans]
