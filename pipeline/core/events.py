"""Realtime API event vocabulary: beta/GA name aliases, client types, audio sizes.

Both event-name generations are first-class; everything downstream speaks the
GA names only, so the state machine has one spelling per concept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# beta name -> GA (canonical) name
ALIASES: dict[str, str] = {
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "conversation.item.created": "conversation.item.added",
}

CLIENT_TYPES: frozenset[str] = frozenset(
    {
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "conversation.item.create",
        "conversation.item.retrieve",
        "conversation.item.truncate",
        "conversation.item.delete",
        "response.create",
        "response.cancel",
        "output_audio_buffer.clear",
        "transcription_session.update",
    }
)

SERVER_TYPES: frozenset[str] = frozenset(
    {
        "error",
        "session.created",
        "session.updated",
        "transcription_session.created",
        "transcription_session.updated",
        "conversation.created",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.retrieved",
        "conversation.item.truncated",
        "conversation.item.deleted",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.input_audio_transcription.failed",
        "conversation.item.input_audio_transcription.segment",
        "input_audio_buffer.committed",
        "input_audio_buffer.cleared",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.timeout_triggered",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "output_audio_buffer.cleared",
        "response.created",
        "response.done",
        "response.output_item.added",
        "response.output_item.done",
        "response.content_part.added",
        "response.content_part.done",
        "response.output_text.delta",
        "response.output_text.done",
        "response.output_audio_transcript.delta",
        "response.output_audio_transcript.done",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.mcp_call.failed",
        "mcp_list_tools.in_progress",
        "mcp_list_tools.completed",
        "mcp_list_tools.failed",
        "rate_limits.updated",
    }
)

KNOWN_TYPES: frozenset[str] = CLIENT_TYPES | SERVER_TYPES | frozenset(ALIASES)

# Event types whose payload is base64 audio: only its length is ever read.
AUDIO_TYPES: frozenset[str] = frozenset(
    {"input_audio_buffer.append", "response.audio.delta", "response.output_audio.delta"}
)


def audio_format(config: dict[str, Any], direction: str) -> Any:
    """The session's audio format for `input`/`output` as logged (a GA object or a beta
    name), None when the log names none."""
    audio = config.get("audio")
    if isinstance(audio, dict) and isinstance(audio.get(direction), dict):
        fmt = audio[direction].get("format")
        if fmt is not None:
            return fmt
    return config.get(f"{direction}_audio_format")


def format_name(fmt: Any) -> str | None:
    """A format's name (`pcm16`, `g711_ulaw`, `audio/pcm`, ...); None when unknown."""
    if isinstance(fmt, dict):
        return str(fmt.get("type") or "audio/pcm")
    return fmt if isinstance(fmt, str) and fmt else None


# WAVE format tags
PCM, ALAW, MULAW = 1, 6, 7


@dataclass(frozen=True, slots=True)
class Codec:
    """How a session's audio is encoded: its WAVE format tag, sample rate and sample size."""

    tag: int
    rate: int
    bits: int

    @property
    def bytes_per_second(self) -> int:
        return self.rate * self.bits // 8

    @property
    def bytes_per_ms(self) -> float:
        return self.bytes_per_second / 1000

    @property
    def frame(self) -> int:
        return self.bits // 8


def codec(fmt: Any) -> Codec | None:
    """The encoding of a session audio format as logged; None when the log names none or
    one realtrace does not know (a phone call may be G.711: nothing is computed from a
    guessed format).

    Beta sessions name the format as a string (`pcm16`, `g711_ulaw`); GA sessions
    use an object (`{"type": "audio/pcm", "rate": 24000}`, `audio/pcmu`, `audio/pcma`).
    """
    if isinstance(fmt, dict):
        kind = fmt.get("type", "audio/pcm")
        if kind in ("audio/pcmu", "audio/pcma"):
            return Codec(MULAW if kind == "audio/pcmu" else ALAW, 8000, 8)
        if kind != "audio/pcm":
            return None
        rate = fmt.get("rate", 24_000)
        ok = isinstance(rate, int | float) and not isinstance(rate, bool) and rate > 0
        return Codec(PCM, int(rate) if ok else 24_000, 16)
    if not isinstance(fmt, str):
        return None
    if fmt.startswith("g711"):
        return Codec(ALAW if fmt.startswith("g711_alaw") else MULAW, 8000, 8)
    if fmt.startswith("pcm16") or fmt == "audio/pcm":
        return Codec(PCM, 24_000, 16)
    if fmt in ("audio/pcmu", "audio/pcma"):
        return Codec(MULAW if fmt == "audio/pcmu" else ALAW, 8000, 8)
    return None


def audio_bytes_per_second(fmt: Any) -> int | None:
    """Decoded audio bytes per second of a session audio format (`codec`); None: unknown."""
    c = codec(fmt)
    return c.bytes_per_second if c is not None else None


def obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested JSON object, or {} when absent or not an object (logs are untrusted)."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def num(value: Any) -> float | None:
    """A JSON number, or None for anything else (booleans and numeric strings included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def count(value: Any) -> float | None:
    """A count (tokens): a finite JSON number of 0 or more, or None. A negative or infinite
    count is no count: left out, never passed on as a negative metric."""
    n = num(value)
    return n if n is not None and 0 <= n < float("inf") else None


def text(value: Any) -> str | None:
    """A non-empty JSON string, or None."""
    return value if isinstance(value, str) and value else None


_ISO = re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$")


def parse_time(value: Any) -> int | None:
    """UTC nanoseconds from an ISO-8601 string or an epoch number of any unit (s/ms/us/ns).

    The same rules as the loader's timestamp column, for times inside records
    (app records' `start_time`/`end_time`); None when it is neither.
    """
    if isinstance(value, str):
        s = value.strip()
        if re.fullmatch(r"-?\d+(\.\d+)?", s):
            whole, _, frac = s.partition(".")
            digits = _epoch_digits(abs(int(whole)))
            return int(whole) * 10**digits + int((frac + "0" * 9)[:digits] or 0)
        m = _ISO.match(s)
        if m is None:
            return None
        try:
            base = datetime.fromisoformat(m.group(1).replace(" ", "T"))
        except ValueError:
            return None
        zone = m.group(3) or "+00:00"
        zone = "+00:00" if zone == "Z" else zone
        try:
            base = base.replace(tzinfo=datetime.fromisoformat("2000-01-01T00:00:00" + zone).tzinfo)
        except ValueError:
            return None
        secs = int(base.timestamp())
        return secs * 1_000_000_000 + int(((m.group(2) or "") + "0" * 9)[:9])
    n = num(value)
    if n is None:
        return None
    if isinstance(n, int):
        return n * 10 ** _epoch_digits(abs(n))
    return int(n * 10 ** _epoch_digits(abs(int(n))))


def _epoch_digits(magnitude: int) -> int:
    """Decimal digits to scale an epoch number to nanoseconds, from its magnitude."""
    if magnitude < 100_000_000_000:
        return 9
    if magnitude < 100_000_000_000_000:
        return 6
    if magnitude < 100_000_000_000_000_000:
        return 3
    return 0
