"""Sessionize: give each event its session key and order each session's events.

Key precedence (trace model §1, §6, §7): explicit `session_id`, else the `session.id` of
the file's `session.created` event (one file = one connection), else of its first
`session.updated` (a log begun after the connection opened), else the log's content: a
digest of its first events, so the same log read from another folder, by another spelling
of its path, or from an object store keys the same session (never its path).
Sessions may span rotated files and lines may be out of order, so events are
ordered by timestamp, ties broken by file then line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import polars as pl

from pipeline.core.model import SessionEvents

SORT_KEYS = ["session_key", "ts_ns", "file", "line"]  # a session's events in replay order


def assign_sessions(events: pl.DataFrame) -> pl.DataFrame:
    """Add `session_key`. Pure. Rows stay in their order: `convert_frame` sorts a chunk by
    SORT_KEYS where it is converted (sorting each file here as well was done twice)."""
    created = (
        events.filter(pl.col("created_session_id").is_not_null())
        .group_by("file")
        .agg(
            pl.col("created_session_id")
            .sort_by(pl.col("type") != "session.created", "line")  # created, else updated
            .first()
            .alias("_file_session")
        )
    )
    # only logs that leave some event without a session id need a key from their content
    named = events["session_id"].null_count() == 0
    return (
        events.join(created, on="file", how="left")
        .join(_content_keys(events.head(0) if named else events), on="file", how="left")
        .with_columns(pl.coalesce("session_id", "_file_session", "_log_key").alias("session_key"))
        .drop("_file_session", "_log_key")
    )


CONTENT_EVENTS = 8  # a log's first events that name it, when nothing else does


def _content_keys(events: pl.DataFrame) -> pl.DataFrame:
    """Each file's key from its content: `log:` and a digest of its first events (time,
    type, text, audio length), in line order. Two logs share one only if they begin alike
    for that many events, to the nanosecond."""
    first = (  # rows come in line order, as read
        events.group_by("file", maintain_order=True)
        .head(CONTENT_EVENTS)
        .select("file", "ts_ns", "type", "event", "audio_b64_len")
    )
    digests: dict[int, Any] = {}
    for fid, ts, etype, event, alen in first.iter_rows():
        h = digests.setdefault(fid, hashlib.sha256())
        h.update(f"{ts}\x1f{etype}\x1f{event or ''}\x1f{alen or ''}\x1e".encode())
    return pl.DataFrame(
        {
            "file": pl.Series(list(digests), dtype=pl.UInt32),
            "_log_key": [f"log:{h.hexdigest()[:24]}" for h in digests.values()],
        },
        schema={"file": pl.UInt32, "_log_key": pl.String},
    )


AudioTotals = tuple[dict[str, int], dict[str, int], dict[str, list[tuple[str, int, int]]]]


def _audio_totals(audio_rows: pl.DataFrame) -> AudioTotals:
    """Decoded audio bytes per session, in and out, and out per response (with its first
    delta's time): base64 lengths × 3/4, summed in three group-bys for the whole frame."""
    audio = audio_rows.select(
        "session_key",
        "type",
        "ts_ns",
        "response_id",
        (pl.col("audio_b64_len") * 3 // 4).alias("bytes"),
    )
    is_in = pl.col("type") == "input_audio_buffer.append"
    a_in = dict(audio.filter(is_in).group_by("session_key").agg(pl.col("bytes").sum()).iter_rows())
    a_out = dict(
        audio.filter(~is_in).group_by("session_key").agg(pl.col("bytes").sum()).iter_rows()
    )
    per_resp: dict[str, list[tuple[str, int, int]]] = {}
    resp = (
        audio.filter(~is_in & pl.col("response_id").is_not_null())
        .group_by("session_key", "response_id", maintain_order=True)
        .agg(pl.col("bytes").sum(), pl.col("ts_ns").min())
    )
    for key, rid, nbytes, first in resp.iter_rows():
        per_resp.setdefault(key, []).append((rid, nbytes, first))
    return a_in, a_out, per_resp


def _appends(audio_rows: pl.DataFrame) -> dict[str, list[tuple[int, int]]]:
    """Each session's input appends as (time, decoded bytes) in stream order: the audio
    clock that places the caller's speech in wall time (`dynamics`)."""
    rows = audio_rows.filter(pl.col("type") == "input_audio_buffer.append")
    if rows.height == 0:
        return {}
    grouped = rows.group_by("session_key", maintain_order=True).agg(
        "ts_ns", (pl.col("audio_b64_len") * 3 // 4).alias("bytes")
    )
    return {key: list(zip(ts, size, strict=True)) for key, ts, size in grouped.iter_rows()}


def _drop_repeated_audio(
    sessions: pl.DataFrame, is_audio: pl.Expr
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Audio rows logged twice (the same log in two files, e.g. `.gz` and `.zst`): the same
    line of the same session with the same time, type, size and response. Non-audio events
    are matched by `event_id` in the replay; audio rows carry no text to read it from. Only
    a session read from more than one file can repeat a line, so most frames cost one test."""
    if sessions["file"].n_unique() < 2:
        return sessions, {}
    identity = pl.struct(
        "session_key", "line", "ts_ns", "type", "audio_b64_len", "response_id"
    ).is_first_distinct()
    keep = ~is_audio | identity
    repeated = sessions.filter(~keep).group_by("session_key").len()
    if repeated.height == 0:
        return sessions, {}
    return sessions.filter(keep), dict(repeated.iter_rows())


def _payloads(
    audio_rows: pl.DataFrame,
) -> tuple[dict[str, list[tuple[int, bytes]]], dict[str, list[tuple[str, bytes]]]]:
    """With --audio, each session's decoded payloads in replay order: input appends, and
    output deltas with their response id (none when the payloads were not kept)."""
    kept = audio_rows.filter(pl.col("audio_pcm").is_not_null())
    if kept.height == 0:
        return {}, {}
    is_in = pl.col("type") == "input_audio_buffer.append"
    appends: dict[str, list[tuple[int, bytes]]] = {}
    for key, ts, pcm in kept.filter(is_in).select("session_key", "ts_ns", "audio_pcm").iter_rows():
        appends.setdefault(key, []).append((ts, pcm))
    deltas: dict[str, list[tuple[str, bytes]]] = {}
    out = kept.filter(~is_in & pl.col("response_id").is_not_null())
    for key, rid, pcm in out.select("session_key", "response_id", "audio_pcm").iter_rows():
        deltas.setdefault(key, []).append((rid, pcm))
    return appends, deltas


def split_sessions(sessions: pl.DataFrame) -> Iterator[SessionEvents]:
    """A frame sorted by SORT_KEYS → one SessionEvents per session, in key order.

    Whole-frame Polars work (a few group-bys), then plain list slicing: no Polars
    call per session, which would cost more than the session's own replay.
    """
    if sessions.height == 0:
        return
    is_audio = pl.col("audio_b64_len").is_not_null()
    sessions, repeated = _drop_repeated_audio(sessions, is_audio)
    bounds = sessions.group_by("session_key", maintain_order=True).agg(
        pl.col("ts_ns").first().alias("first"),
        pl.col("ts_ns").last().alias("last"),
        is_audio.sum().alias("n_audio"),
        pl.col("file").first().alias("first_file"),
        pl.col("line").first().alias("first_line"),
    )
    audio_rows = sessions.filter(is_audio)
    a_in, a_out, per_resp = _audio_totals(audio_rows)
    payloads = _payloads(audio_rows)
    appends = _appends(audio_rows)
    rest = sessions.filter(~is_audio)
    r_keys = rest["session_key"].to_list()
    r_ts = rest["ts_ns"].to_list()
    r_type = rest["type"].to_list()
    r_event = rest["event"].to_list()
    r_meta = rest["metadata"].to_list()
    r_file = rest["file"].to_list()
    r_line = rest["line"].to_list()
    pos = 0
    n = len(r_keys)
    for key, first, last, n_audio, first_file, first_line in bounds.iter_rows():
        start = pos
        while pos < n and r_keys[pos] == key:
            pos += 1
        yield SessionEvents(
            key=key,
            ts=r_ts[start:pos],
            types=r_type[start:pos],
            events=r_event[start:pos],
            metadata=[m for m in r_meta[start:pos] if m],
            first_ns=first,
            last_ns=last,
            audio_events=n_audio,
            audio_in_bytes=int(a_in.get(key, 0)),
            audio_out_bytes=int(a_out.get(key, 0)),
            audio_by_response=per_resp.get(key, []),
            duplicate_audio=repeated.get(key, 0),
            audio_in=payloads[0].get(key, []),
            audio_out=payloads[1].get(key, []),
            appends=appends.get(key, []),
            files=r_file[start:pos],
            lines=r_line[start:pos],
            first_file=first_file,
            first_line=first_line,
        )
