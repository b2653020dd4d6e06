"""Parse: every field extraction needs from a frame of regular lines, in one orjson pass.

Polars decodes a line once for the typed fields and twice more with JSON paths for
the event's text and the metadata; orjson parses it once, in a fraction of that time
(README, performance). The columns are exactly those of the Polars path
(`extract._decode_fast` and the JSON paths of `extract._typed_rows`): strings as
they are, numbers and booleans as their JSON text, objects re-serialized compactly
(byte-identical to Polars' output on every envelope event of the samples, the real
logs and the benchmark inputs, so session hashes in the state do not change).

Anything this path does not reproduce exactly (a malformed line, an object where a
string is expected, a float Python would write with an exponent, an integer beyond
64 bits) raises `Irregular`, and the frame goes through the Polars path as before.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

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


def _row(line: str, timestamp_fields: Sequence[str]) -> tuple[Any, ...]:
    """One line's columns: the hot loop of reading. A string value (nearly all of them) is
    taken as it is; only others go through `_text`."""
    if not line or line.isspace():  # a blank line: rejected later, its text kept like any other
        return (None, False, None, None, None, None, None, line, None, None)
    try:
        d = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise Irregular("malformed") from exc
    if d.__class__ is not dict:
        raise Irregular("not an object")
    get = d.get
    ev = get("event")
    if ev is not None and ev.__class__ is not dict:
        raise Irregular("event is not an object")
    direction = get("direction")
    if direction.__class__ is not str:
        direction = _text(direction)
    ev_type = ev.get("type") if ev is not None else None
    env = ev_type is not None or (direction == "app" and ev is not None)
    src = ev if env and ev is not None else d
    raw_type = src.get("type")
    if raw_type.__class__ is not str:
        raw_type = _text(raw_type)
    ts = None
    for name in timestamp_fields:
        ts = get(name)
        if ts is not None:
            if ts.__class__ is not str:
                ts = _text(ts)
            break
    session_id = get("session_id")
    response_id = src.get("response_id")
    app_name = ev.get("name") if ev is not None else None
    row = (
        raw_type,
        env,
        ts,
        session_id if session_id.__class__ is str else _text(session_id),
        response_id if response_id.__class__ is str else _text(response_id),
        direction,
        app_name if app_name.__class__ is str else _text(app_name),
    )
    if raw_type in AUDIO_TYPES and direction != "app":
        return (*row, None, None, None)  # audio: the payload's length is all it gives
    session = src.get("session")
    created = _json_text(session.get("id")) if session.__class__ is dict else None
    event = orjson.dumps(ev).decode() if env else line
    return (*row, event, _json_text(get("metadata")), created)


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


def decoded_frame(lines: Sequence[str], timestamp_fields: Sequence[str]) -> pl.DataFrame:
    """The decoded columns of these lines, one row each; raises Irregular."""
    schema: dict[str, type[pl.DataType]] = dict.fromkeys((*NAMES, *NAMES_OTHER), pl.String)
    schema["_env"] = pl.Boolean
    with _no_cycle_collection():  # the rows are gone again before it resumes
        fields = tuple(f for f in timestamp_fields if f != "event")  # the envelope, not a time
        rows = [_row(line, fields) for line in lines]
        columns = list(zip(*rows, strict=True)) if rows else [()] * 10
        del rows
        return pl.DataFrame(
            dict(zip((*NAMES, *NAMES_OTHER), columns, strict=True)), schema=schema, strict=False
        )


def parse_lines(raw: pl.DataFrame, timestamp_fields: Sequence[str]) -> pl.DataFrame:
    """`raw` with the decoded columns added; raises Irregular for the Polars path."""
    return pl.concat([raw, decoded_frame(raw["raw"].to_list(), timestamp_fields)], how="horizontal")
