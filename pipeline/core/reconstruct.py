"""Reconstruct: replay one session's ordered events through a state machine into span nodes.

This is the only per-event Python loop of the pipeline. It records domain facts
(items, usage, transcripts) as one typed facts object per span kind; turning
them into attributes is the next stage's job. Span times are always recorded
event timestamps, and `finish` enforces the trace model's shape invariants
(children within parents, events within spans, turns never overlapping) by
clipping and re-homing late events, never by stretching spans over neighbours.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import orjson

from pipeline.core import inputs, responses
from pipeline.core.events import KNOWN_TYPES
from pipeline.core.finish import add_audio, finish, merged_metadata
from pipeline.core.machine import TRAILING_TYPES, SessionMachine
from pipeline.core.model import SessionEvents, SessionTree

Handler = Callable[[SessionMachine, int, dict[str, Any]], None]


class _Delta(msgspec.Struct):
    """A text or transcript delta's four fields: decoded without a dict (the rest of the
    event is skipped unread), since every other delta of a reply goes the same way."""

    event_id: Any = None
    response_id: Any = None
    item_id: Any = None
    delta: Any = None


_DELTA = msgspec.json.Decoder(_Delta)
_TRANSCRIPT_DELTA = "response.output_audio_transcript.delta"
_DELTAS = frozenset({"response.output_text.delta", _TRANSCRIPT_DELTA})


HANDLERS: dict[str, Handler] = {
    "session.created": inputs.on_session,
    "session.updated": inputs.on_session,
    "transcription_session.created": inputs.on_session,
    "transcription_session.updated": inputs.on_session,
    "session.update": inputs.on_session_update,
    "input_audio_buffer.speech_started": inputs.on_speech_started,
    "input_audio_buffer.speech_stopped": inputs.on_speech_stopped,
    "input_audio_buffer.committed": inputs.on_committed,
    "conversation.item.input_audio_transcription.completed": inputs.on_transcription_done,
    "conversation.item.input_audio_transcription.failed": inputs.on_transcription_failed,
    "conversation.item.create": inputs.on_item_create,
    "conversation.item.added": inputs.on_item_added,
    "conversation.item.done": inputs.on_item_added,
    "conversation.item.retrieved": inputs.on_item_added,
    "response.created": responses.on_response_created,
    "response.output_item.added": responses.on_output_item,
    "response.output_item.done": responses.on_output_item,
    "response.content_part.done": responses.on_content_part_done,
    "response.output_text.delta": responses.on_text_delta,
    "response.output_audio_transcript.delta": responses.on_text_delta,
    "response.output_text.done": responses.on_text_done,
    "response.output_audio_transcript.done": responses.on_text_done,
    "response.output_audio.done": responses.on_audio_done,
    "response.function_call_arguments.delta": responses.on_args_delta,
    "response.function_call_arguments.done": responses.on_args_done,
    "response.done": responses.on_response_done,
    "output_audio_buffer.started": responses.on_audio_buffer,
    "output_audio_buffer.stopped": responses.on_audio_buffer,
    "output_audio_buffer.cleared": responses.on_audio_buffer,
    "conversation.item.truncate": responses.on_truncate,
    "conversation.item.truncated": responses.on_truncate,
    "error": inputs.on_error,
    "response.create": inputs.on_response_create,
    "response.cancel": inputs.on_response_cancel,
    "input_audio_buffer.commit": inputs.on_client_event,
    "input_audio_buffer.clear": inputs.on_client_event,
    "conversation.item.delete": inputs.on_client_event,
    "conversation.item.retrieve": inputs.on_client_event,
}


def replay(m: SessionMachine, times: list[int], types: list[str], events: list[str | None]) -> None:
    """Feed the session's non-audio events to their handlers (audio rows are aggregated by
    `add_audio`), in one loop: one dict lookup an event for its handler, nothing else
    called for an event no handler reads.

    Only the types a handler reads are parsed; an event logged twice (the same `event_id`:
    two copies of one log) is dropped and counted. Events of other types are read for their
    id only once the session has shown a copy, so a clean log pays nothing for it.
    """
    stats, seen, handlers, on_app, loads = (
        m.stats,
        m.seen_events,
        HANDLERS,
        inputs.on_app,
        orjson.loads,
    )
    deltas, decode_delta, delta = _DELTAS, _DELTA.decode, responses.text_delta
    for i, (ts, etype, event) in enumerate(zip(times, types, events, strict=True)):
        m.index = i
        d: _Delta | None = None
        ev: Any = None
        handler: Handler | None = None
        if etype in deltas and event:
            try:  # noqa: SIM105 (contextlib.suppress costs a context manager an event)
                d = decode_delta(event)
            except (msgspec.DecodeError, msgspec.ValidationError):
                pass  # not an object: the long way, below
        if d is not None:
            event_id = d.event_id
        else:
            handler = handlers.get(etype)
            if handler is None:
                if etype.startswith("app."):
                    handler = on_app
                else:
                    if stats.duplicate_events and _repeated(m, _parse(event)):
                        continue
                    stats.events += 1
                    if etype not in KNOWN_TYPES:
                        stats.unknown_events += 1
                    if etype not in TRAILING_TYPES:
                        m.ended_on_error = None
                    continue
            try:
                ev = loads(event) if event else {}
            except ValueError:  # not JSON (orjson.JSONDecodeError is one): nothing to read
                ev = {}
            if ev.__class__ is not dict:  # JSON, but not an object: counted, nothing to read
                stats.events += 1
                continue
            event_id = ev.get("event_id")
        if event_id.__class__ is str:  # a copy of an event already replayed: counted, dropped
            if event_id in seen:
                stats.duplicate_events += 1
                continue
            seen.add(event_id)
        stats.events += 1
        if d is not None:
            m.ended_on_error = None
            delta(m, ts, etype == _TRANSCRIPT_DELTA, d.response_id, d.item_id, d.delta)
        else:
            assert handler is not None  # set with `ev` above
            if handler is not on_app and etype not in TRAILING_TYPES:
                m.ended_on_error = None
            ev["type"] = etype
            handler(m, ts, ev)


def _parse(event: str | None) -> dict[str, Any] | None:
    """An event's JSON: {} when it is not JSON, None when it is JSON but not an object."""
    try:
        ev = orjson.loads(event) if event else {}
    except ValueError:  # orjson.JSONDecodeError is one
        return {}
    return ev if ev.__class__ is dict else None


def _repeated(m: SessionMachine, ev: dict[str, Any] | None) -> bool:
    """This event's `event_id` was seen before in the session: a copy, counted and dropped."""
    event_id = ev.get("event_id") if ev is not None else None
    if event_id.__class__ is not str:
        return False
    if event_id in m.seen_events:
        m.stats.duplicate_events += 1
        return True
    m.seen_events.add(event_id)
    return False


def reconstruct(se: SessionEvents) -> SessionTree:
    """One session's events → its span nodes. Pure; the only per-event Python loop."""
    machine = SessionMachine(se.key)
    replay(machine, se.ts, se.types, se.events)
    audio = add_audio(machine, se)
    return finish(machine, se, audio, merged_metadata(list(dict.fromkeys(se.metadata))))
