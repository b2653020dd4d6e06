"""Audio: each user input's and each response's speech, rebuilt from the logged payloads as
WAV files (`--audio`), one clip per turn side, never one per chunk.

The input stream is every `input_audio_buffer.append` in order; a user input is its slice
between the VAD offsets `audio_start_ms` and `audio_end_ms` (push-to-talk: the appends
since the previous commit). A response's clip is its audio deltas in order, cut where a
truncation says the caller stopped hearing. Formats come from the session's configuration;
none logged means no clip (a phone call may be G.711: a guessed format is noise).
Pure: the caller writes, inlines or uploads the clips.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from dataclasses import dataclass, field

from pipeline.core.events import PCM, Codec, audio_format, codec
from pipeline.core.model import (
    InputFacts,
    Item,
    Node,
    ResponseFacts,
    SessionEvents,
    SessionTree,
    SpanKind,
    TurnFacts,
)
from pipeline.private import safe_name
from pipeline.records import Clip


def wav(samples: bytes, c: Codec) -> bytes:
    """A WAV file of `samples` (PCM 16-bit little-endian, or 8-bit G.711 with its format tag
    and the `fact` chunk non-PCM formats carry)."""
    channels, align = 1, c.frame
    samples = samples[: len(samples) - len(samples) % align]
    fmt = struct.pack("<HHIIHH", c.tag, channels, c.rate, c.rate * align, align, c.bits)
    chunks = []
    if c.tag == PCM:
        chunks.append(b"fmt " + struct.pack("<I", 16) + fmt)
    else:
        chunks.append(b"fmt " + struct.pack("<I", 18) + fmt + struct.pack("<H", 0))
        chunks.append(b"fact" + struct.pack("<II", 4, len(samples) // align))
    chunks.append(b"data" + struct.pack("<I", len(samples)) + samples)
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


@dataclass(slots=True)
class SessionAudio:
    clips: list[Clip] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # reason → clips not made

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


CLIP_NAMESPACE = uuid.UUID("6f1d3c52-8f0e-5a43-9b7e-2d4c1a9e7b10")  # realtrace's, fixed forever


def clip_key(session_key: str, span_key: str, direction: str, data: bytes) -> str:
    """The clip's attachment key: a name-based (version 5) RFC 4122 UUID, as Braintrust's keys
    are UUIDs, of the clip's place (session, span, direction) and its content's SHA-256. A rerun
    names the same object (nothing uploaded twice); a clip whose bytes changed (the rest of a
    call logged the next night) gets a new key, so the longer audio is uploaded, never a stale
    object kept under the old name."""
    digest = hashlib.sha256(data).hexdigest()
    name = f"{session_key}\x00{span_key}\x00{direction}\x00{digest}"
    return str(uuid.uuid5(CLIP_NAMESPACE, name))


def rebuild(tree: SessionTree, se: SessionEvents) -> SessionAudio:
    """The session's clips (user inputs, then responses), or why each could not be made."""
    out = SessionAudio()
    if not se.audio_in and not se.audio_out:
        return out
    nodes = {n.key: n for n in tree.nodes}
    turn_of = {k: n.facts_as(TurnFacts).index for k, n in nodes.items() if n.kind == SpanKind.TURN}
    _inputs(tree, se, out, turn_of)
    _outputs(tree, nodes, se, out, turn_of)
    return out


def _inputs(
    tree: SessionTree, se: SessionEvents, out: SessionAudio, turn_of: dict[str, int]
) -> None:
    spans = [
        n
        for n in tree.nodes
        if n.kind == SpanKind.USER_INPUT and n.facts_as(InputFacts).source == "audio"
    ]
    if not se.audio_in or not spans:
        return
    c = codec(audio_format(tree.session.config, "input"))
    if c is None:
        for _ in spans:
            out.skip("no input audio format logged")
        return
    stream = b"".join(pcm for _, pcm in se.audio_in)
    previous_commit: float = float("-inf")
    for node in spans:  # in start order
        facts = node.facts_as(InputFacts)
        if facts.audio_start_ms is not None and facts.audio_end_ms is not None:
            samples = stream[_offset(facts.audio_start_ms, c) : _offset(facts.audio_end_ms, c)]
        elif facts.committed_ns is not None:  # push-to-talk: the appends since the last commit
            mine = [pcm for ts, pcm in se.audio_in if previous_commit < ts <= facts.committed_ns]
            samples = b"".join(mine)
        else:
            samples = b""
        if facts.committed_ns is not None:
            previous_commit = facts.committed_ns
        if not samples:
            out.skip("no input audio in the span's range")
            continue
        turn = turn_of.get(node.parent or "", 0)
        out.clips.append(
            Clip(
                node.key,
                "input",
                f"{turn:03d}-1-user-{safe_name(facts.item_id)}.wav",
                *_keyed(tree.session_key, node.key, "input", wav(samples, c)),
            )
        )


def _outputs(
    tree: SessionTree,
    nodes: dict[str, Node],
    se: SessionEvents,
    out: SessionAudio,
    turn_of: dict[str, int],
) -> None:
    if not se.audio_out:
        return
    by_response: dict[str, list[bytes]] = {}
    for rid, pcm in se.audio_out:
        by_response.setdefault(rid, []).append(pcm)
    c = codec(audio_format(tree.session.config, "output"))
    items_by_id = tree.session.items
    order = {n.key: i for i, n in enumerate(tree.nodes)}  # start order
    seen: dict[str, int] = {}
    for rid, chunks in sorted(by_response.items(), key=lambda r: order.get(f"response:{r[0]}", 0)):
        node = nodes.get(f"response:{rid}")
        if node is None:
            continue
        if c is None:
            out.skip("no output audio format logged")
            continue
        samples = b"".join(chunks)
        facts = node.facts_as(ResponseFacts)
        items = [items_by_id[i] for i in facts.items if i in items_by_id]
        heard = _heard_ms(items)
        if heard is not None:
            samples = samples[: _offset(heard, c)]  # what the caller heard
        turn = turn_of.get(node.parent or "", 0)
        nth = seen[node.parent or ""] = seen.get(node.parent or "", 1) + 1  # the user's is 1
        out.clips.append(
            Clip(
                node.key,
                "output",
                f"{turn:03d}-{nth}-assistant-{safe_name(rid)}.wav",
                *_keyed(tree.session_key, node.key, "output", wav(samples, c)),
            )
        )


def _keyed(session_key: str, span_key: str, direction: str, data: bytes) -> tuple[str, bytes]:
    return clip_key(session_key, span_key, direction, data), data


def _heard_ms(items: list[Item]) -> float | None:
    cut = [
        i.truncated_at_ms
        for i in items
        if i.truncated_ns is not None and i.truncated_at_ms is not None
    ]
    return min(cut) if cut else None


def _offset(ms: float, c: Codec) -> int:
    """A byte offset into a stream of `c` at `ms`, on a sample boundary."""
    n = int(max(0.0, ms) * c.bytes_per_ms)
    return n - n % c.frame
