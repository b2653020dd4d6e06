"""Parse: every field extraction needs from a frame of lines, two typed decodes a line.

msgspec decodes each line's top level into a struct of the fields extraction reads,
keeping the event's bytes as they are (`msgspec.Raw`), then the event into a struct
of its few fields; everything else is skipped unread, with no dict and no string built
for it. The event's text is its bytes as logged (the state machine parses it once more;
session hashes in the state are taken over it). The columns are those of the Polars path
(`extract.polars_columns`): strings as they are, numbers and booleans as their JSON text,
metadata and session ids re-serialized compactly.

A line this path does not read exactly as Polars does (malformed, not an object, an
object where a string is expected, a float Python would write with an exponent, an
integer beyond 64 bits) is decoded the Polars way; the rest of its frame stays here.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import msgspec
import orjson
import polars as pl

from pipeline.core.events import AUDIO_TYPES


class Irregular(ValueError):
    """A line this path would not read exactly as the Polars path does."""


def _text(value: Any) -> str | None:
    """A JSON value as Polars decodes it into a string field (an object is irregular)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not -(1 << 63) <= value < 1 << 64:  # Polars reads it as a float
            raise Irregular("integer beyond 64 bits")
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if "e" in text or "n" in text:  # exponents, inf, nan: let Polars write them
            raise Irregular(text)
        return text
    raise Irregular(type(value).__name__)


def _json_text(value: Any) -> str | None:
    """A JSON value as a Polars JSON path returns it: objects and arrays as JSON text."""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return _text(value)


NAMES = ("_raw_type", "_env", "_ts_text", "session_id", "_resp", "_direction", "_app_name")
NAMES_OTHER = ("_event", "_meta", "_created")
COLUMNS = (*NAMES, *NAMES_OTHER)

# A line's decoded columns the Polars way (`extract.polars_columns`), for its irregular lines.
Fallback = Callable[[list[str], Sequence[str]], pl.DataFrame]


class _Event(msgspec.Struct):
    """The fields of an envelope's event that extraction reads: msgspec skips the rest of
    the object without building it (no dict, no strings), which is most of the line."""

    type: Any = None
    response_id: Any = None
    name: Any = None
    session: Any = None


_EVENT = msgspec.json.Decoder(_Event)
_NULL = msgspec.Raw(b"null")
_TOP = ("session_id", "direction", "type", "response_id", "session", "metadata")


@functools.cache
def _fields(timestamp_fields: tuple[str, ...]) -> tuple[dict[str, str], tuple[str, ...]]:
    """A line's struct fields → their JSON keys, and the timestamp fields' attribute names in
    their order of precedence. Timestamp fields are named t0, t1, ... and renamed to the
    configured keys: any JSON key works, even one that is no identifier."""
    stamps = tuple(f for f in dict.fromkeys(timestamp_fields) if f not in (*_TOP, "event"))
    names = {f"t{i}": f for i, f in enumerate(stamps)} | {f: f for f in _TOP}
    attrs = [a for a in names if names[a] in timestamp_fields]
    return names, tuple(sorted(attrs, key=lambda a: timestamp_fields.index(names[a])))


@functools.cache
def _envelope(timestamp_fields: tuple[str, ...]) -> msgspec.json.Decoder[Any]:
    """The decoder of a line's top level, its event kept as raw bytes."""
    names, _ = _fields(timestamp_fields)
    fields: list[tuple[str, Any, Any]] = [(n, Any, None) for n in names]
    fields.append(("event", msgspec.Raw, msgspec.Raw()))
    return msgspec.json.Decoder(msgspec.defstruct("Envelope", fields, rename=names))


class _Session(msgspec.Struct):
    id: str | None = None


class _StrictEvent(msgspec.Struct):
    """`_Event` for a slice of regular lines: every field a string or absent."""

    type: str | None = None
    response_id: str | None = None
    name: str | None = None
    session: _Session | None = None


STRICT_EVENTS = msgspec.json.Decoder(list[_StrictEvent | None])


@functools.cache
def _strict(timestamp_fields: tuple[str, ...]) -> msgspec.json.Decoder[Any]:
    """`_envelope` for a slice of regular lines, decoded as one JSON array: the fields strings
    or absent (the times anything: epoch numbers are regular)."""
    names, _ = _fields(timestamp_fields)
    types: dict[str, Any] = dict.fromkeys(_TOP, str | None)
    types.update(session=_Session | None, metadata=Any)
    fields: list[tuple[str, Any, Any]] = [(n, types.get(n, Any), None) for n in names]
    fields.append(("event", msgspec.Raw, msgspec.Raw()))
    strict: Any = msgspec.defstruct("Strict", fields, rename=names)
    return msgspec.json.Decoder(list[strict])


def _at_once(lines: Sequence[str], timestamp_fields: tuple[str, ...]) -> list[Sequence[Any]] | None:
    """The columns of a slice of regular lines, or None when one is not (then line by line).

    The slice is decoded as one JSON array of structs, and its events as another: two calls
    into msgspec for the whole slice, then one comprehension a column, with no Python call
    a line. Any line that is not an object of string fields (a blank line, a number where a
    string is expected, a malformed line) fails the whole slice's decode.
    """
    stamps = _fields(timestamp_fields)[1]
    try:
        tops = _strict(timestamp_fields).decode("[" + ",".join(lines) + "]")
        if len(tops) != len(lines):  # a line holding two values
            return None
        raws = [t.event for t in tops]
        events: list[Any] = STRICT_EVENTS.decode(
            b"[" + b",".join([r or b"null" for r in raws]) + b"]"
        )
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    directions = [t.direction for t in tops]
    env = [
        e is not None and (e.type is not None or d == "app")
        for e, d in zip(events, directions, strict=True)
    ]
    src: list[Any] = [e if x else t for e, x, t in zip(events, env, tops, strict=True)]
    types = [s.type for s in src]
    audio = [ty in AUDIO_TYPES and d != "app" for ty, d in zip(types, directions, strict=True)]
    first, rest = (stamps[0], stamps[1:]) if stamps else ("", ())
    try:
        ts = [_stamp(t, first, rest) for t in tops]
        meta = [
            None if a or (m := t.metadata) is None else _json_text(m)
            for a, t in zip(audio, tops, strict=True)
        ]
    except Irregular:
        return None
    return [
        types,
        env,
        ts,
        [t.session_id for t in tops],
        [s.response_id for s in src],
        directions,
        [e.name if e is not None else None for e in events],
        [
            None if a else bytes(r).decode() if x else line
            for a, x, r, line in zip(audio, env, raws, lines, strict=True)
        ],
        meta,
        [None if a or s.session is None else s.session.id for a, s in zip(audio, src, strict=True)],
    ]


def _stamp(top: Any, first: str, rest: tuple[str, ...]) -> str | None:
    """A line's time: the first timestamp field it has, as its JSON text."""
    ts = getattr(top, first, None) if first else None
    for name in rest:
        if ts is not None:
            break
        ts = getattr(top, name)
    return ts if ts is None or ts.__class__ is str else _text(ts)


_BLANK: tuple[Any, ...] = (None, False, None, None, None, None, None)


def _row(
    line: str, envelope: msgspec.json.Decoder[Any], stamps: tuple[str, ...]
) -> tuple[Any, ...]:
    """One line's columns: the hot loop of reading. Two typed decodes (the top level, then
    the event's few fields) and no dict; the event's text is its own bytes as logged. A
    string value (nearly all of them) is taken as it is; only others go through `_text`."""
    if not line.startswith("{") and not line.lstrip().startswith("{"):
        # blank, or not a JSON object at all (junk): rejected later with its reason, its text
        # kept like any other; never a decode, an exception and the Polars fallback a line
        return (*_BLANK, line, None, None)
    try:
        d = envelope.decode(line)
        raw = d.event
        ev = _EVENT.decode(raw) if raw and raw != _NULL else None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:  # malformed, or not objects
        raise Irregular(str(exc)) from exc
    except RecursionError:  # nested past what any decoder here takes: this line, a reject
        return (*_BLANK, line, None, None)
    direction = d.direction
    if direction.__class__ is not str:
        direction = _text(direction)
    env = ev is not None and (ev.type is not None or direction == "app")
    src: Any = ev if env else d
    raw_type = src.type
    if raw_type.__class__ is not str:
        raw_type = _text(raw_type)
    ts = None
    for name in stamps:
        ts = getattr(d, name)
        if ts is not None:
            if ts.__class__ is not str:
                ts = _text(ts)
            break
    session_id = d.session_id
    if session_id.__class__ is not str:
        session_id = _text(session_id)
    response_id = src.response_id
    if response_id.__class__ is not str:
        response_id = _text(response_id)
    app_name = ev.name if ev is not None else None
    if app_name.__class__ is not str:
        app_name = _text(app_name)
    if raw_type in AUDIO_TYPES and direction != "app":  # the payload's length is all it gives
        return (raw_type, env, ts, session_id, response_id, direction, app_name, None, None, None)
    session = src.session
    created = _json_text(session.get("id")) if session.__class__ is dict else None
    meta = d.metadata
    return (
        raw_type,
        env,
        ts,
        session_id,
        response_id,
        direction,
        app_name,
        bytes(raw).decode() if env else line,
        None if meta is None else _json_text(meta),
        created,
    )


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The cyclic GC paused while rows pile up: they hold no cycles (parsed dicts die by
    reference count), yet each collection walks them all."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def decoded_frame(
    lines: Sequence[str],
    timestamp_fields: Sequence[str],
    fallback: Fallback | None = None,
    objects: bool = True,
) -> pl.DataFrame:
    """The decoded columns of these lines, one row each: the whole slice at once when every
    line is regular (`_at_once`), else line by line. The lines this path does not read exactly
    as Polars does are decoded by `fallback` (together: one Polars call for them all); the
    other lines keep this path, so a regular line's columns depend on that line only, never
    on an odd line beside it. Without a fallback, such a line raises Irregular. `objects`
    False: the caller knows no line holds a `{` (blank or junk lines only)."""
    schema: dict[str, type[pl.DataType]] = dict.fromkeys(COLUMNS, pl.String)
    schema["_env"] = pl.Boolean
    with _no_cycle_collection():  # the rows are gone again before it resumes
        if not objects:  # blank or junk lines only: every row a reject, no decode a line
            return _rejects_only(lines, schema)
        columns = _at_once(lines, tuple(timestamp_fields)) if lines else None
        if columns is None:
            columns = _line_by_line(lines, timestamp_fields, fallback)
        return pl.DataFrame(dict(zip(COLUMNS, columns, strict=True)), schema=schema, strict=True)


def _rejects_only(lines: Sequence[str], schema: dict[str, type[pl.DataType]]) -> pl.DataFrame:
    """The decoded columns of lines none of which is a JSON object: nulls (each row is
    rejected by `extract` with its reason), the line as its text; built column-wise in C."""
    n = len(lines)
    return pl.DataFrame(
        [
            pl.Series(c, lines, dtype=pl.String)
            if c == "_event"
            else pl.repeat(False if c == "_env" else None, n, dtype=schema[c], eager=True).alias(c)
            for c in COLUMNS
        ]
    )


def _line_by_line(
    lines: Sequence[str], timestamp_fields: Sequence[str], fallback: Fallback | None
) -> list[Sequence[Any]]:
    """The columns of a slice with an irregular line: `_row` a line, `fallback` for a line
    `_row` does not read exactly as Polars does."""
    envelope, stamps = _envelope(tuple(timestamp_fields)), _fields(tuple(timestamp_fields))[1]
    odd: list[int] = []
    rows: list[tuple[Any, ...]] = []
    add = rows.append
    for i, line in enumerate(lines):
        try:
            add(_row(line, envelope, stamps))
        except Irregular:
            if fallback is None:
                raise
            add((*_BLANK, None, None, None))
            odd.append(i)
    if odd:
        assert fallback is not None
        slow = fallback([lines[i] for i in odd], timestamp_fields).select(COLUMNS)
        for i, row in zip(odd, slow.rows(), strict=True):
            rows[i] = row
    return list(zip(*rows, strict=True)) if rows else [()] * len(COLUMNS)


def parse_lines(
    raw: pl.DataFrame, timestamp_fields: Sequence[str], fallback: Fallback | None = None
) -> pl.DataFrame:
    """`raw` with the decoded columns added (see `decoded_frame`)."""
    lines = raw["raw"].to_list()
    return pl.concat([raw, decoded_frame(lines, timestamp_fields, fallback)], how="horizontal")
