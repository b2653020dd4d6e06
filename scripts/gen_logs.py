#!/usr/bin/env python3
"""Generate realistic OpenAI Realtime API event logs (deterministic by seed).

Writes sessions with real event shapes (event ids, item ids, response ids, usage
blocks, base64 audio of realistic pcm16 24 kHz chunk sizes) in both event-name
generations (beta `gpt-4o-realtime-preview` and GA `gpt-realtime`), as envelope
or flat JSONL (optionally gzip) and Parquet.

    python scripts/gen_logs.py --out sample_logs --samples          # the shipped samples
    python scripts/gen_logs.py --out /tmp/big --sessions 2000 --seed 7
    python scripts/gen_logs.py --out /tmp/big --size 1GB
    python scripts/gen_logs.py --out /tmp/call --minutes 45         # one long voice call
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import math
import random
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PCM16_BYTES_PER_S = 48_000
AUDIO_EVENT_TYPES = frozenset(
    {"input_audio_buffer.append", "response.audio.delta", "response.output_audio.delta"}
)
T0 = 1_764_000_000_000_000_000  # 2025-11-24T16:00:00Z in ns

TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
    {
        "type": "function",
        "name": "book_table",
        "description": "Book a restaurant table",
        "parameters": {
            "type": "object",
            "properties": {
                "restaurant": {"type": "string"},
                "people": {"type": "integer"},
                "time": {"type": "string"},
            },
        },
    },
]
ORDER_TOOL = {
    "type": "function",
    "name": "lookup_order",
    "description": "An order's status by the caller's phone number",
    "parameters": {"type": "object", "properties": {"phone": {"type": "string"}}},
}
USER_LINES = [
    "Hi, can you hear me?",
    "What's the weather like in Paris today?",
    "Can you book a table for four at Chez Marcel at eight?",
    "Actually, make that seven thirty.",
    "Tell me a short story about a lighthouse keeper.",
    "Wait, stop, I meant a short one.",
    "What time is it in Tokyo right now?",
    "Thanks, that's all for today.",
]
ASSISTANT_LINES = [
    "Hello! Yes, I can hear you clearly. How can I help?",
    "It's currently 14 degrees and cloudy in Paris, with light rain expected this evening.",
    "Done: a table for four at Chez Marcel at 8 pm tonight.",
    "No problem, I've moved your booking to 7:30 pm.",
    "Once upon a time, on a rocky island far from any harbour, there lived a lighthouse keeper named Ada who",
    "Of course. The keeper lit the lamp every night, and every ship came home.",
    "It's just past midnight in Tokyo.",
    "You're welcome! Have a lovely evening.",
]


VOICES = {"user": (220.0, 330.0), "assistant": (440.0, 660.0), "silence": (0.0, 0.0)}


def ulaw(sample: int) -> int:
    """G.711 mu-law of a 16-bit sample (the standard's companding, as telephony does it)."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = min(7, max(0, (magnitude >> 7).bit_length() - 1))
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def tone(nbytes: int, voice: str, g711: bool) -> bytes:
    """Audio a listener can tell apart: the user hums a low two-note pattern, the assistant
    a higher one, 100 ms a note (16-bit PCM at 24 kHz, or G.711 mu-law at 8 kHz)."""
    rate = 8000 if g711 else 24000
    n = nbytes if g711 else nbytes // 2
    low, high = VOICES[voice]
    out = bytearray()
    for i in range(n):
        t = i / rate
        f = low if int(t * 10) % 2 == 0 else high
        v = int(9000 * math.sin(2 * math.pi * f * t)) if f else 0
        out += bytes([ulaw(v)]) if g711 else struct.pack("<h", v)
    return bytes(out)


class AudioPool:
    """Base64 audio chunks of given sizes and voices, made once and reused (generation stays
    fast): tones per speaker, so a rebuilt WAV is worth listening to."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._cache: dict[tuple[int, str, bool], str] = {}

    def b64(self, nbytes: int, voice: str = "assistant", g711: bool = False) -> str:
        nbytes -= nbytes % (1 if g711 else 2)
        key = (nbytes, voice, g711)
        if key not in self._cache:
            self._cache[key] = base64.b64encode(tone(nbytes, voice, g711)).decode()
        return self._cache[key]


@dataclass
class SessionLog:
    """Accumulates one session's events with timestamps, in either generation's names."""

    ga: bool
    rng: random.Random
    audio: AudioPool
    t_ns: int
    session_id: str = ""
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    audio_ms: int = 0
    seq: int = 0
    items: list[str] = field(default_factory=list)
    bytes_per_s: int = PCM16_BYTES_PER_S  # G.711 phone audio: 8,000

    def _id(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}_{self.rng.getrandbits(64):016x}{self.seq:04d}"[: len(prefix) + 22]

    def advance(self, ms: float) -> None:
        self.t_ns += int(ms * 1_000_000) + self.rng.randrange(0, 999)

    def emit(self, direction: str, etype: str, **fields: Any) -> dict[str, Any]:
        ev = {"type": etype, "event_id": self._id("event"), **fields}
        self.events.append((self.t_ns, direction, ev))
        return ev

    def name(self, beta: str, ga: str) -> str:
        return ga if self.ga else beta

    # -- building blocks ---------------------------------------------------------

    def start(self, tools: bool = True, g711: bool = False) -> None:
        """`g711`: a phone call's beta session, G.711 mu-law both ways (8 kHz, a byte a sample)."""
        self.session_id = self._id("sess")
        if g711:
            self.bytes_per_s = 8_000
        if self.ga:
            session = {
                "type": "realtime",
                "object": "realtime.session",
                "id": self.session_id,
                "model": "gpt-realtime",
                "output_modalities": ["audio"],
                "instructions": "You are a friendly concierge. Be brief.",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "transcription": {"model": "gpt-4o-transcribe"},
                        "turn_detection": {
                            "type": "server_vad",
                            "threshold": 0.5,
                            "prefix_padding_ms": 300,
                            "silence_duration_ms": 500,
                        },
                    },
                    "output": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "voice": "marin",
                        "speed": 1.0,
                    },
                },
                "tools": TOOLS if tools else [],
                "tool_choice": "auto",
                "max_output_tokens": "inf",
            }
        else:
            session = {
                "id": self.session_id,
                "object": "realtime.session",
                "model": "gpt-4o-realtime-preview-2024-12-17",
                "modalities": ["audio", "text"],
                "instructions": "You are a friendly concierge. Be brief.",
                "voice": "alloy",
                "input_audio_format": "g711_ulaw" if g711 else "pcm16",
                "output_audio_format": "g711_ulaw" if g711 else "pcm16",
                "input_audio_transcription": {"model": "whisper-1"},
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 500,
                },
                "tools": TOOLS if tools else [],
                "tool_choice": "auto",
                "temperature": 0.8,
                "max_response_output_tokens": "inf",
            }
        self.emit("server", "session.created", session=session)
        self.advance(40)
        self.emit(
            "client",
            "session.update",
            session={"instructions": session["instructions"], "tools": session["tools"]},
        )
        self.advance(30)
        self.emit("server", "session.updated", session=session)

    def _item_added(self, item: dict[str, Any]) -> None:
        prev = self.items[-1] if self.items else None
        if self.ga:
            self.emit(
                "server",
                "conversation.item.added",
                previous_item_id=prev,
                item={**item, "status": "in_progress"},
            )
            self.emit(
                "server",
                "conversation.item.done",
                previous_item_id=prev,
                item={**item, "status": "completed"},
            )
        else:
            self.emit("server", "conversation.item.created", previous_item_id=prev, item=item)
        self.items.append(item["id"])

    def user_speech(
        self, text: str, speech_ms: int = 1800, transcription_fails: bool = False
    ) -> str:
        item_id = self._id("item")
        start_ms = self.audio_ms + 300
        chunk = int(self.bytes_per_s * 0.1)  # 100 ms appends, like browser clients
        g711 = self.bytes_per_s == 8_000
        for _ in range(3):
            self.emit(
                "client",
                "input_audio_buffer.append",
                audio=self.audio.b64(chunk, "silence", g711),
            )
            self.advance(100)
        self.emit(
            "server", "input_audio_buffer.speech_started", audio_start_ms=start_ms, item_id=item_id
        )
        for _ in range(speech_ms // 100):
            self.emit(
                "client", "input_audio_buffer.append", audio=self.audio.b64(chunk, "user", g711)
            )
            self.advance(100)
        self.audio_ms = start_ms + speech_ms
        self.emit(
            "server",
            "input_audio_buffer.speech_stopped",
            audio_end_ms=self.audio_ms,
            item_id=item_id,
        )
        self.advance(12)
        self.emit(
            "server",
            "input_audio_buffer.committed",
            previous_item_id=self.items[-1] if self.items else None,
            item_id=item_id,
        )
        self._item_added(
            {
                "id": item_id,
                "object": "realtime.item",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_audio", "transcript": None}],
            }
        )
        return item_id

    def transcription(self, item_id: str, text: str, fails: bool = False) -> None:
        self.advance(self.rng.randrange(150, 400))
        if fails:
            self.emit(
                "server",
                "conversation.item.input_audio_transcription.failed",
                item_id=item_id,
                content_index=0,
                error={
                    "type": "transcription_error",
                    "code": "audio_unintelligible",
                    "message": "Audio could not be transcribed.",
                    "param": None,
                },
            )
            return
        ev: dict[str, Any] = {"item_id": item_id, "content_index": 0, "transcript": text}
        if self.ga:
            ev["usage"] = {
                "type": "tokens",
                "total_tokens": 40,
                "input_tokens": 32,
                "output_tokens": 8,
            }
        self.emit("server", "conversation.item.input_audio_transcription.completed", **ev)

    def user_text(self, text: str) -> str:
        item_id = self._id("item")
        item = {
            "id": item_id,
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }
        self.emit("client", "conversation.item.create", item=item)
        self.advance(20)
        self._item_added({**item, "object": "realtime.item"})
        return item_id

    def response(
        self,
        text: str,
        *,
        audio: bool = True,
        call: tuple[str, dict[str, Any]] | None = None,
        cut_at: float | None = None,
        cancel_at: float | None = None,
        fail: bool = False,
        transcript_after: tuple[str, str] | None = None,
        client_create: bool = False,
        webrtc: bool = False,
    ) -> dict[str, Any]:
        """One model response; returns facts the caller may need (ids, call_id).

        `webrtc`: what a WebRTC client logs (GA): no audio deltas (the audio goes
        over the media track) but output_audio_buffer.started/stopped, only the
        first transcript delta, and the full transcript only in content_part.done.
        """
        if client_create:
            self.emit("client", "response.create", response={})
            self.advance(15)
        rid = self._id("resp")
        self.emit(
            "server",
            "response.created",
            response={
                "object": "realtime.response",
                "id": rid,
                "status": "in_progress",
                "status_details": None,
                "output": [],
                "usage": None,
            },
        )
        if transcript_after:
            self.transcription(*transcript_after)
        out: dict[str, Any] = {"response_id": rid}
        item_id = self._id("item")
        self.advance(self.rng.randrange(250, 700))
        if fail:
            self._failed_response(rid)
            return out
        if call is not None:
            done = self._function_call(rid, item_id, *call, out)
        else:
            message = self._message(rid, item_id, text, audio, cut_at, cancel_at, webrtc, out)
            if message is None:  # cut off, or cancelled: no response.done here
                return out
            done = message
        self.advance(20)
        if webrtc and audio and call is None:
            self.advance(40 * len(text))  # playback outlasts generation
            self.emit("server", "output_audio_buffer.stopped", response_id=rid)
        self.response_done(
            rid,
            "completed",
            None,
            [done],
            _usage(self.rng, 200 + 60 * len(self.items), 20 + len(text) // 3),
        )
        self.emit(
            "server",
            "rate_limits.updated",
            rate_limits=[
                {"name": "tokens", "limit": 40000, "remaining": 39000, "reset_seconds": 1.5}
            ],
        )
        return out

    def _part_event(self, rid: str, item_id: str, etype: str, **fields: Any) -> None:
        """A content-part event of a response's first output item."""
        self.emit(
            "server", etype, response_id=rid, item_id=item_id, output_index=0, content_index=0,
            **fields,
        )  # fmt: skip

    def _failed_response(self, rid: str) -> None:
        self.advance(400)
        self.response_done(
            rid,
            "failed",
            {
                "type": "failed",
                "error": {
                    "type": "server_error",
                    "code": "internal_error",
                    "message": "The server had an error while processing your request.",
                },
            },
            [],
            _usage(self.rng, 300, 0),
        )

    def _function_call(
        self, rid: str, item_id: str, name: str, args: dict[str, Any], out: dict[str, Any]
    ) -> dict[str, Any]:
        """A function-call output item, its arguments streamed; the done item."""
        call_id = self._id("call")
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": name,
            "call_id": call_id,
            "arguments": "",
        }
        self.emit(
            "server", "response.output_item.added", response_id=rid, output_index=0, item=item
        )
        self._item_added(item)
        arg_text = json.dumps(args)
        common = {"response_id": rid, "item_id": item_id, "output_index": 0, "call_id": call_id}
        for i in range(0, len(arg_text), 12):
            self.emit(
                "server", "response.function_call_arguments.delta", **common,
                delta=arg_text[i : i + 12],
            )  # fmt: skip
            self.advance(8)
        self.emit(
            "server", "response.function_call_arguments.done", **common, name=name,
            arguments=arg_text,
        )  # fmt: skip
        done = {**item, "status": "completed", "arguments": arg_text}
        self.emit("server", "response.output_item.done", response_id=rid, output_index=0, item=done)
        out["call_id"] = call_id
        return done

    def _message(
        self,
        rid: str,
        item_id: str,
        text: str,
        audio: bool,
        cut_at: float | None,
        cancel_at: float | None,
        webrtc: bool,
        out: dict[str, Any],
    ) -> dict[str, Any] | None:
        """An assistant message, word by word; the done item, or None when cut or cancelled."""
        ctype = (
            ("output_audio" if self.ga else "audio")
            if audio
            else ("output_text" if self.ga else "text")
        )
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        self.emit(
            "server", "response.output_item.added", response_id=rid, output_index=0, item=item
        )
        self._item_added(item)
        self._part_event(
            rid, item_id, "response.content_part.added",
            part={"type": ctype, "transcript": ""} if audio else {"type": ctype, "text": ""},
        )  # fmt: skip
        words = text.split(" ")
        limit = len(words)
        if cut_at is not None or cancel_at is not None:
            limit = max(1, int(len(words) * (cut_at if cut_at is not None else cancel_at or 0.5)))
        spoken = self._stream_words(rid, item_id, words[:limit], audio, webrtc)
        if cut_at is not None:
            return None  # the log ends here: no response.done
        out["item_id"] = item_id
        out["spoken"] = spoken
        if cancel_at is not None:
            out["cancelled"] = True
            return None
        part = self._message_done(rid, item_id, ctype, spoken, audio, webrtc)
        done = {**item, "status": "completed", "content": [part]}
        self.emit("server", "response.output_item.done", response_id=rid, output_index=0, item=done)
        return done

    def _stream_words(
        self, rid: str, item_id: str, words: list[str], audio: bool, webrtc: bool
    ) -> str:
        """Deltas for each word (text, or transcript and audio); what was said."""
        said: list[str] = []
        for i, word in enumerate(words):
            delta = word if i == 0 else " " + word
            said.append(delta)
            if audio and webrtc:
                if i == 0:
                    self._part_event(
                        rid, item_id, "response.output_audio_transcript.delta", delta=delta
                    )
                    self.emit("server", "output_audio_buffer.started", response_id=rid)
            elif audio:
                self._part_event(
                    rid, item_id,
                    self.name("response.audio_transcript.delta", "response.output_audio_transcript.delta"),
                    delta=delta,
                )  # fmt: skip
                nbytes = self.rng.choice((4800, 9600, 14400)) * self.bytes_per_s // 48_000
                self._part_event(
                    rid, item_id, self.name("response.audio.delta", "response.output_audio.delta"),
                    delta=self.audio.b64(nbytes, "assistant", self.bytes_per_s == 8_000),
                )  # fmt: skip
            else:
                self._part_event(
                    rid, item_id, self.name("response.text.delta", "response.output_text.delta"),
                    delta=delta,
                )  # fmt: skip
            self.advance(self.rng.randrange(40, 90))
        return "".join(said)

    def _message_done(
        self, rid: str, item_id: str, ctype: str, spoken: str, audio: bool, webrtc: bool
    ) -> dict[str, Any]:
        """The closing events of a message; its final content part."""
        if audio and webrtc:
            part = {"type": ctype, "transcript": spoken}
        elif audio:
            self._part_event(
                rid, item_id, self.name("response.audio.done", "response.output_audio.done")
            )
            self._part_event(
                rid, item_id,
                self.name("response.audio_transcript.done", "response.output_audio_transcript.done"),
                transcript=spoken,
            )  # fmt: skip
            part = {"type": ctype, "transcript": spoken}
        else:
            self._part_event(
                rid,
                item_id,
                self.name("response.text.done", "response.output_text.done"),
                text=spoken,
            )
            part = {"type": ctype, "text": spoken}
        self._part_event(rid, item_id, "response.content_part.done", part=part)
        return part

    def response_done(
        self, rid: str, status: str, details: Any, output: list[Any], usage: dict[str, Any]
    ) -> None:
        obj = {
            "object": "realtime.response",
            "id": rid,
            "status": status,
            "status_details": details,
        }
        self.emit("server", "response.done", response={**obj, "output": output, "usage": usage})

    def cancel_response(self, facts: dict[str, Any], interrupt_text: str) -> str:
        """Barge-in: the user talks over the assistant; server cancels and the client truncates."""
        rid = facts["response_id"]
        item_id = self.user_speech(interrupt_text, speech_ms=900)
        self.response_done(
            rid,
            "cancelled",
            {"type": "cancelled", "reason": "turn_detected"},
            [
                {
                    "id": facts["item_id"],
                    "object": "realtime.item",
                    "type": "message",
                    "status": "incomplete",
                    "role": "assistant",
                    "content": [
                        {
                            "type": "output_audio" if self.ga else "audio",
                            "transcript": facts["spoken"],
                        }
                    ],
                }
            ],
            _usage(self.rng, 400, 60),
        )
        self.advance(10)
        self.emit(
            "client",
            "conversation.item.truncate",
            item_id=facts["item_id"],
            content_index=0,
            audio_end_ms=1500,
        )
        self.advance(15)
        self.emit(
            "server",
            "conversation.item.truncated",
            item_id=facts["item_id"],
            content_index=0,
            audio_end_ms=1500,
        )
        return item_id

    def tool_output(self, call_id: str, output: dict[str, Any]) -> None:
        self.advance(self.rng.randrange(120, 600))
        item = {"type": "function_call_output", "call_id": call_id, "output": json.dumps(output)}
        self.emit("client", "conversation.item.create", item=item)
        self.advance(15)
        self._item_added({**item, "id": self._id("item"), "object": "realtime.item"})

    def bad_client_event(self) -> None:
        ev = self.emit(
            "client",
            "conversation.item.create",
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_image", "image_url": "not-a-url"}],
            },
        )
        self.advance(25)
        self.emit(
            "server",
            "error",
            error={
                "type": "invalid_request_error",
                "code": "invalid_value",
                "message": "Invalid 'item.content[0].image_url'. Expected a base64-encoded data URL.",
                "param": "item.content[0].image_url",
                "event_id": ev["event_id"],
            },
        )

    def out_of_band(
        self,
        instructions: str,
        answer: str,
        metadata: dict[str, Any],
        input_items: list[str] | None = None,
    ) -> None:
        """A response the app asks for outside the conversation (`conversation: "none"`),
        with its own context (`input_items`: references to conversation items) when given."""
        request: dict[str, Any] = {
            "conversation": "none",
            "metadata": metadata,
            "output_modalities": ["text"],
            "instructions": instructions,
        }
        if input_items is not None:
            request["input"] = [{"type": "item_reference", "id": i} for i in input_items]
        self.emit("client", "response.create", response=request)
        self.advance(20)
        rid = self._id("resp")
        head = {"object": "realtime.response", "id": rid, "conversation_id": None}
        self.emit(
            "server",
            "response.created",
            response={**head, "status": "in_progress", "metadata": metadata, "usage": None},
        )
        item_id = self._id("item")
        self.advance(self.rng.randrange(150, 300))
        self.emit(
            "server", "response.output_text.delta", response_id=rid, item_id=item_id, delta=answer
        )
        self.emit(
            "server", "response.output_text.done", response_id=rid, item_id=item_id, text=answer
        )
        item = {
            "id": item_id,
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": answer}],
        }
        self.advance(10)
        self.emit(
            "server",
            "response.done",
            response={
                **head,
                "status": "completed",
                "status_details": None,
                "metadata": metadata,
                "output": [item],
                "usage": _usage(self.rng, 180, 4),
            },
        )

    def phone_start(self) -> None:
        """A SIP bridge's session (GA): G.711 audio on the line, but the logged session names
        no audio format (the bridge set it in a header, not in the session)."""
        self.session_id = self._id("sess")
        self.bytes_per_s = 8_000
        session = {
            "type": "realtime",
            "object": "realtime.session",
            "id": self.session_id,
            "model": "gpt-realtime",
            "output_modalities": ["audio"],
            "instructions": "You answer the phone for an online shop. Be brief.",
            "audio": {
                "input": {
                    "transcription": {"model": "gpt-4o-mini-transcribe"},
                    "turn_detection": {"type": "server_vad", "silence_duration_ms": 400},
                },
                "output": {"voice": "cedar"},
            },
            "tools": [ORDER_TOOL],
            "tool_choice": "auto",
        }
        self.emit("server", "session.created", session=session)

    def tool_output_in_request(self, call_id: str, output: dict[str, Any]) -> dict[str, Any]:
        """The tool's result sent inside `response.create.input` (no conversation item)."""
        self.advance(self.rng.randrange(300, 700))
        item = {"type": "function_call_output", "call_id": call_id, "output": json.dumps(output)}
        return self.emit("client", "response.create", response={"input": [item]})

    def log_done_first(self, rid: str) -> None:
        """What a bridge that logs on receipt, *.done events only, writes for a response: no
        `added`/delta events, and `response.created` after the item's done events."""
        skip = {
            "response.output_item.added",
            "response.content_part.added",
            "response.output_audio_transcript.delta",
        }
        mine = [e for e in self.events if e[2].get("response_id") == rid or _rid(e[2]) == rid]
        created = next(e for e in mine if e[2]["type"] == "response.created")
        moved = next(e for e in mine if e[2]["type"] == "response.output_item.done")
        self.events = [
            e for e in self.events if e is not created and not (e in mine and e[2]["type"] in skip)
        ]
        at = self.events.index(moved)
        self.events.insert(at, (moved[0], created[1], created[2]))

    def client_cancel(self) -> None:
        """The caller presses a key to stop: the client cancels the response just created,
        before any of it was delivered."""
        rid = self._id("resp")
        self.emit("client", "response.create", response={})
        self.advance(15)
        head = {"object": "realtime.response", "id": rid}
        self.emit("server", "response.created", response={**head, "status": "in_progress"})
        self.advance(60)
        self.emit("client", "response.cancel", response_id=rid)
        self.advance(20)
        self.response_done(
            rid,
            "cancelled",
            {"type": "cancelled", "reason": "client_cancelled"},
            [],
            _usage(self.rng, 380, 0),
        )

    def session_error(self, message: str) -> None:
        """A server error about no client event in particular (`event_id: null`)."""
        self.advance(300)
        self.emit(
            "server",
            "error",
            error={"type": "server_error", "code": None, "message": message, "event_id": None},
        )

    def app(self, etype: str, ts_offset_ms: float = 0, **fields: Any) -> None:
        """An app-written record (the application's own step), logged when the step ended."""
        self.advance(ts_offset_ms)
        self.events.append((self.t_ns, "app", {"type": etype, **fields}))


def _rid(ev: dict[str, Any]) -> str | None:
    resp = ev.get("response")
    return resp.get("id") if isinstance(resp, dict) else None


def _usage(rng: random.Random, prompt: int, completion: int) -> dict[str, Any]:
    cached = (prompt // 64) * 64 // 2 if prompt > 256 else 0
    audio_in = prompt * 3 // 5
    audio_out = completion * 4 // 5
    return {
        "total_tokens": prompt + completion,
        "input_tokens": prompt,
        "output_tokens": completion,
        "input_token_details": {
            "text_tokens": prompt - audio_in,
            "audio_tokens": audio_in,
            "cached_tokens": cached,
            "cached_tokens_details": {
                "text_tokens": cached // 2,
                "audio_tokens": cached - cached // 2,
            },
        },
        "output_token_details": {"text_tokens": completion - audio_out, "audio_tokens": audio_out},
    }


# -- scenarios ---------------------------------------------------------------------


def scenario_voice(s: SessionLog, turns: int = 3) -> None:
    s.start()
    s.response(ASSISTANT_LINES[0], client_create=True)  # greeting
    for i in range(turns):
        k = (i + 4) % len(USER_LINES)
        item = s.user_speech(USER_LINES[k])
        s.response(ASSISTANT_LINES[k], transcript_after=(item, USER_LINES[k]))
        s.advance(s.rng.randrange(800, 2500))


def scenario_tools(s: SessionLog, turns: int = 2) -> None:
    s.start()
    for i in range(turns):
        item = s.user_speech(USER_LINES[1 + i])
        facts = s.response(
            "",
            call=("get_weather", {"city": "Paris"})
            if i == 0
            else ("book_table", {"restaurant": "Chez Marcel", "people": 4, "time": "20:00"}),
            transcript_after=(item, USER_LINES[1 + i]),
        )
        s.tool_output(
            facts["call_id"],
            {"temp_c": 14, "conditions": "cloudy"}
            if i == 0
            else {"confirmed": True, "booking_id": "B-2291"},
        )
        s.response(ASSISTANT_LINES[1 + i], client_create=True)
        s.advance(1500)


def scenario_barge_in(s: SessionLog) -> None:
    s.start(tools=False)
    item = s.user_speech(USER_LINES[4])
    facts = s.response(ASSISTANT_LINES[4], cancel_at=0.5, transcript_after=(item, USER_LINES[4]))
    item2 = s.cancel_response(facts, USER_LINES[5])
    s.response(ASSISTANT_LINES[5], transcript_after=(item2, USER_LINES[5]))


def scenario_text(s: SessionLog) -> None:
    s.start()
    for k in (6, 7):
        s.user_text(USER_LINES[k])
        s.advance(10)
        s.response(ASSISTANT_LINES[k], audio=False, client_create=True)
        s.advance(3000)


def scenario_errors(s: SessionLog) -> None:
    s.start()
    s.bad_client_event()
    item = s.user_speech("mmhm", speech_ms=600)
    s.transcription(item, "", fails=True)
    s.response("", fail=True)
    item = s.user_speech(USER_LINES[6])
    s.response(ASSISTANT_LINES[6], transcript_after=(item, USER_LINES[6]))


def scenario_cut_off(s: SessionLog) -> None:
    """A phone call (G.711 mu-law, logged) cut off while the assistant speaks."""
    s.start(g711=True)
    item = s.user_speech(USER_LINES[4])
    s.response(ASSISTANT_LINES[4], cut_at=0.6, transcript_after=(item, USER_LINES[4]))


def scenario_webrtc(s: SessionLog) -> None:
    """A WebRTC client's log: playback events instead of audio deltas, GA content-part
    transcripts, an out-of-band classification, and a session error with no event id."""
    s.start(tools=False)
    s.response(ASSISTANT_LINES[0], client_create=True, webrtc=True)
    item = s.user_speech(USER_LINES[6])
    s.response(ASSISTANT_LINES[6], transcript_after=(item, USER_LINES[6]), webrtc=True)
    s.out_of_band("Classify the caller's intent in one word.", "time_query", {"purpose": "intent"})
    s.session_error("The server had an error while processing your request.")
    item = s.user_speech(USER_LINES[7])
    s.response(ASSISTANT_LINES[7], transcript_after=(item, USER_LINES[7]), webrtc=True)


def scenario_app(s: SessionLog) -> None:
    """A session its application instrumented (Braintrust's guide): a retrieval before the
    response, an API call inside a tool, user facts for the root, and one failing step."""
    s.start()
    s.app("app.session", metadata={"user_id": "u_2077", "plan": "pro"}, tags=["instrumented"])
    item = s.user_speech(USER_LINES[1])
    s.app(
        "app.rag_retrieval",
        ts_offset_ms=140,
        duration_ms=120,
        span_type="task",
        input={"query": USER_LINES[1]},
        output=[
            {"id": "doc_weather_fr", "score": 0.82},
            {"id": "doc_paris_guide", "score": 0.61},
            {"id": "doc_climate", "score": 0.44},
        ],
        metadata={"retrieval_method": "hybrid", "documents_considered": 24},
        metrics={"documents": 3},
    )
    facts = s.response(
        "", call=("get_weather", {"city": "Paris"}), transcript_after=(item, USER_LINES[1])
    )
    s.app(
        "app.weather_api",
        ts_offset_ms=420,
        call_id=facts["call_id"],
        duration_ms=390,
        input={"url": "https://weather.example/v1/current?city=Paris"},
        output={"status": 200, "temp_c": 14},
    )
    s.tool_output(facts["call_id"], {"temp_c": 14, "conditions": "cloudy"})
    s.response(ASSISTANT_LINES[1], client_create=True)
    s.advance(1500)
    item = s.user_speech(USER_LINES[7])
    s.app(
        "app.crm_lookup",
        ts_offset_ms=80,
        duration_ms=60,
        input={"user_id": "u_2077"},
        error={"type": "TimeoutError", "message": "CRM did not answer within 50 ms"},
    )
    s.response(ASSISTANT_LINES[7], transcript_after=(item, USER_LINES[7]))


def scenario_phone(s: SessionLog) -> None:
    """A phone call through a SIP bridge: G.711 audio with no format logged, a turn that opens
    with a function call whose result goes back inside `response.create`, *.done events the
    bridge logged before `response.created`, an out-of-band classification with its own input
    and instructions, and a client cancel."""
    s.phone_start()
    ask = "Hi, where is my order?"
    item = s.user_speech(ask, speech_ms=1400)
    facts = s.response(
        "", call=("lookup_order", {"phone": "+33612345678"}), transcript_after=(item, ask)
    )
    s.tool_output_in_request(facts["call_id"], {"order": "A-1001", "status": "shipped"})
    s.advance(15)
    answer = s.response("Your order A-1001 has shipped and arrives tomorrow.")
    s.log_done_first(answer["response_id"])
    s.advance(900)
    s.out_of_band(
        "Classify the caller's intent in one word.", "order_status", {"purpose": "intent"}, [item]
    )
    s.advance(1200)
    item = s.user_speech("Can you read me my whole order history?", speech_ms=1600)
    s.transcription(item, "Can you read me my whole order history?")
    s.client_cancel()


def scenario_short(s: SessionLog) -> None:
    """A short call (an IVR question and its answer): about 45 events with audio, 30 without."""
    s.start(tools=False)
    k = s.rng.randrange(len(USER_LINES))
    item = s.user_speech(USER_LINES[k], speech_ms=800)
    s.response(" ".join(ASSISTANT_LINES[k].split()[:6]), transcript_after=(item, USER_LINES[k]))


SCENARIOS = {
    "voice": scenario_voice,
    "tools": scenario_tools,
    "barge_in": scenario_barge_in,
    "text": scenario_text,
    "errors": scenario_errors,
    "cut_off": scenario_cut_off,
    "webrtc": scenario_webrtc,
    "app": scenario_app,
    "phone": scenario_phone,
    "short": scenario_short,
}


def iso(ts_ns: int) -> str:
    dt = datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ts_ns % 1_000_000_000:09d}Z"


def records(
    s: SessionLog, shape: str, ts_style: str, metadata: dict[str, Any] | None
) -> Iterator[dict[str, Any]]:
    """The session's events as envelope or flat records with the chosen timestamp style."""
    for ts, direction, ev in s.events:
        stamp: Any = (
            iso(ts)
            if ts_style == "iso"
            else ts // 1000
            if ts_style == "us"
            else ts // 1_000_000
            if ts_style == "ms"
            else ts
        )
        if shape == "envelope":
            rec: dict[str, Any] = {
                "timestamp": stamp,
                "session_id": s.session_id,
                "direction": direction,
                "event": ev,
            }
            if metadata:
                rec["metadata"] = metadata
            yield rec
        else:
            yield {**ev, "ts": stamp}


def build_session(name: str, seed: int, ga: bool, t_ns: int, **kwargs: Any) -> SessionLog:
    rng = random.Random(seed)
    s = SessionLog(ga=ga, rng=rng, audio=AudioPool(random.Random(seed ^ 0x5EED)), t_ns=t_ns)
    SCENARIOS[name](s, **kwargs)
    return s


def write_jsonl(path: Path, recs: Iterator[dict[str, Any]], compress: bool = False) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in recs).encode()
    if compress:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    path.write_bytes(data)
    return len(data)


def write_parquet(path: Path, recs: list[dict[str, Any]]) -> None:
    import polars as pl

    path.parent.mkdir(parents=True, exist_ok=True)
    df = pl.DataFrame(
        {
            "timestamp": [r["timestamp"] for r in recs],
            "session_id": [r["session_id"] for r in recs],
            "direction": [r["direction"] for r in recs],
            "event": [json.dumps(r["event"], separators=(",", ":")) for r in recs],
            "metadata": [r.get("metadata") for r in recs],
        }
    ).with_columns(pl.col("timestamp").cast(pl.Datetime("ns", "UTC")))
    df.write_parquet(path)


def write_lake_file(path: Path, recs: list[dict[str, Any]]) -> None:
    """Envelope records as a data-lake Parquet file: zstd, one row group for the whole file
    (what lake exports write), `event` and `metadata` as JSON strings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    table = pa.table(
        {
            "timestamp": [str(r["timestamp"]) for r in recs],
            "session_id": [r.get("session_id") for r in recs],
            "direction": [r.get("direction") for r in recs],
            "event": [dumps(r["event"]) for r in recs],
            "metadata": [dumps(r["metadata"]) if r.get("metadata") else None for r in recs],
        }
    )
    pq.write_table(table, path, compression="zstd", row_group_size=max(1, len(recs)))


def lake_path(out: Path, recs: list[dict[str, Any]], file_no: int) -> Path:
    """`dt=YYYY-MM-DD/part-NNNNN.parquet`, the day of the file's first record."""
    first = recs[0]["timestamp"]
    day = str(first)[:10] if isinstance(first, str) else iso(int(first))[:10]
    return out / f"dt={day}" / f"part-{file_no:05d}.parquet"


def jsonl_to_lake(src: Path, dst: Path) -> None:
    """The same envelope JSONL logs rewritten in the data-lake layout (for the benchmark)."""
    for file_no, f in enumerate(sorted(src.rglob("*.jsonl"))):
        recs = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        if recs:
            write_lake_file(lake_path(dst, recs, file_no), recs)


def write_samples(out: Path) -> None:
    """The shipped sample_logs/: six sessions covering both generations and formats."""
    meta = {"user_id": "u_1042", "app": "concierge-web", "env": "prod"}
    plan = [
        ("voice", 11, True, "2025-11-24/voice_ga.jsonl", "envelope", "iso", False),
        ("tools", 12, True, "2025-11-24/tools_ga.jsonl.gz", "envelope", "ns", True),
        ("barge_in", 13, False, "2025-11-24/barge_in_beta.jsonl", "flat", "ms", False),
        ("text", 14, False, "2025-11-24/text_beta.parquet", "parquet", "ns", False),
        ("errors", 15, True, "2025-11-24/errors_ga.jsonl", "envelope", "us", False),
        ("cut_off", 16, False, "2025-11-24/cut_off_beta.jsonl", "envelope", "iso", False),
        ("webrtc", 17, True, "2025-11-24/webrtc_ga.jsonl", "envelope", "iso", False),
        ("app", 18, True, "2025-11-24/app_instrumented_ga.jsonl", "envelope", "iso", False),
        ("phone", 19, True, "2025-11-24/phone_g711_ga.jsonl", "envelope", "iso", False),
    ]
    for i, (name, seed, ga, rel, shape, ts_style, gz) in enumerate(plan):
        s = build_session(name, seed, ga, T0 + i * 3_600_000_000_000)
        path = out / rel
        if shape == "parquet":
            write_parquet(path, list(records(s, "envelope", "ns", meta)))
        else:
            write_jsonl(
                path,
                records(s, shape, ts_style, meta if shape == "envelope" else None),
                compress=gz,
            )


def _parse_size(text: str) -> int:
    units = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "K": 10**3, "M": 10**6, "G": 10**9}
    t = text.strip().upper()
    for u in sorted(units, key=len, reverse=True):
        if t.endswith(u):
            return int(float(t[: -len(u)]) * units[u])
    return int(t)


def write_bulk(
    out: Path,
    sessions: int | None,
    size: int | None,
    seed: int,
    per_file: int = 50,
    turns: int = 4,
    fmt: str = "jsonl",
    audio_payloads: bool = True,
    app_records: bool = False,
    short: bool = False,
) -> tuple[int, int]:
    """Many sessions in rotated files of `per_file` sessions; stops at `sessions` or `size` bytes.

    `short`: only short calls (`scenario_short`: ~45 events, ~9 spans), the shape where the
    cost is per event and per span rather than per byte."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    names = ["voice", "tools", "barge_in", "text", "voice", "tools", "errors", "voice"]
    if short:
        names = ["short"]
    if (
        app_records
    ):  # sessions instrumented by their app: retrieval, API call, app.session, a failure
        names += ["app", "app"]
    total = 0
    n = 0
    file_no = 0
    while (sessions is None or n < sessions) and (size is None or total < size):
        buf: list[str] = []
        recs: list[dict[str, Any]] = []
        for _ in range(per_file):
            if (sessions is not None and n >= sessions) or (size is not None and total >= size):
                break
            name = names[rng.randrange(len(names))]
            kwargs = {"turns": turns} if name in ("voice",) else {}
            s = build_session(
                name, seed * 1_000_003 + n, ga=bool(n % 2), t_ns=T0 + n * 60_000_000_000, **kwargs
            )
            style = "ns" if fmt == "parquet" else "iso"  # the lake keeps ISO text, as logged
            if not audio_payloads:  # events-dense logs: what loggers that drop audio keep
                s.events = [e for e in s.events if e[2]["type"] not in AUDIO_EVENT_TYPES]
            rs = list(records(s, "envelope", style, {"user_id": f"u_{n % 97}"}))
            chunk = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rs)
            buf.append(chunk)
            if fmt != "jsonl":
                recs.extend(rs)
            total += len(chunk)
            n += 1
        if buf and fmt == "parquet":
            write_parquet(out / f"events-{file_no:05d}.parquet", recs)
            file_no += 1
        elif buf and fmt == "parquet-lake":
            write_lake_file(lake_path(out, recs, file_no), recs)
            file_no += 1
        elif buf:
            (out / f"events-{file_no:05d}.jsonl").write_text("".join(buf))
            file_no += 1
    return n, total


SECONDS_PER_VOICE_TURN = 5.3  # what a turn of the "voice" scenario lasts, measured


def write_long_call(out: Path, minutes: float, seed: int, audio_payloads: bool = True) -> Path:
    """One voice call of about `minutes` (a turn every ~5.3 s), the shape that makes a report's
    session view long: 45 minutes is ~510 turns, ~2,000 spans, ~1,000 clips."""
    out.mkdir(parents=True, exist_ok=True)
    turns = max(1, round(minutes * 60 / SECONDS_PER_VOICE_TURN))
    s = build_session("voice", seed, ga=True, t_ns=T0, turns=turns)
    if not audio_payloads:
        s.events = [e for e in s.events if e[2]["type"] not in AUDIO_EVENT_TYPES]
    path = out / "long-call.jsonl"
    write_jsonl(path, records(s, "envelope", "iso", {"user_id": "u_long"}))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default with --samples: sample_logs/)",
    )
    ap.add_argument(
        "--samples", action="store_true", help="rewrite the shipped sample sessions (sample_logs/)"
    )
    ap.add_argument("--sessions", type=int, default=None, help="number of sessions to generate")
    ap.add_argument("--size", default=None, help="approximate total size, e.g. 100MB, 1GB")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-file", type=int, default=50, help="sessions per rotated file")
    ap.add_argument("--turns", type=int, default=4, help="user turns per voice session")
    ap.add_argument(
        "--minutes", type=float, default=None, help="one voice call of about this many minutes"
    )
    ap.add_argument(
        "--app-records",
        action="store_true",
        help="mix in sessions instrumented by their application (app records)",
    )
    ap.add_argument(
        "--no-audio",
        action="store_true",
        help="leave out audio payload events (events-dense logs, as many loggers write)",
    )
    ap.add_argument(
        "--format",
        choices=["jsonl", "parquet", "parquet-lake"],
        default="jsonl",
        help="bulk output format; parquet-lake: dt=YYYY-MM-DD/part-NNNNN.parquet, zstd, one row group per file",
    )
    args = ap.parse_args(argv)
    if args.samples:
        args.out = args.out or Path(__file__).resolve().parent.parent / "sample_logs"
        write_samples(args.out)
        print(f"wrote samples to {args.out}")
        return 0
    if args.minutes is not None:
        if args.out is None:
            ap.error("--out DIR is needed with --minutes")
        path = write_long_call(args.out, args.minutes, args.seed, not args.no_audio)
        print(f"wrote a call of about {args.minutes:g} minutes to {path}")
        return 0
    if args.sessions is None and args.size is None:
        ap.error("give --samples, --sessions, --size or --minutes")
    if args.out is None:
        ap.error("--out DIR is needed with --sessions or --size")
    n, total = write_bulk(
        args.out,
        args.sessions,
        _parse_size(args.size) if args.size else None,
        args.seed,
        args.per_file,
        args.turns,
        args.format,
        audio_payloads=not args.no_audio,
        app_records=args.app_records,
    )
    on_disk = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(
        f"wrote {n} sessions ({total / 1e6:.1f} MB of events, {on_disk / 1e6:.1f} MB on disk) to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
