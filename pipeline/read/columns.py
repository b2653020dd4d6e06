"""Columns: a columnar format's envelope records straight to extraction's decoded columns.

The JSON path for a Parquet batch writes each row as a JSON line (its `event`, its other
columns) and parses it again. Here the top-level fields are taken as the columns they
already are (`timestamp`, `session_id`, `direction`, `metadata`); an `event` of JSON text
is decoded once, for its few fields (`type`, `response_id`, `name`, `session.id`), its text
kept as it is; an `event` struct is read field by field and encoded to JSON text only for
the rows whose text the state machine reads (not the audio rows, most of a voice log). An
audio row's base64 payload is measured in place, as `scan` does on JSON bytes.

The frame it gives is the JSON path's (`test_load` compares them on the samples and on
Parquet files of every schema): a batch it cannot read exactly so (a flat record, a
timestamp of a type other than text, integer or date, a field of an unexpected type, a
row to reject) raises `Irregular`, and that batch alone goes the JSON way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import polars as pl

from pipeline.core.events import AUDIO_TYPES
from pipeline.read.extract import AUDIO_TYPE, cut_audio_payloads
from pipeline.read.parse import COLUMNS, STRICT_EVENTS, Irregular

_PAYLOAD_FIELDS = ("delta", "audio")
_INTEGER = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


@dataclass(frozen=True, slots=True)
class Columns:
    """One batch of a columnar file's rows (a Polars frame of its columns, a data lake's
    partitions included); `frame` gives them as JSON records, for the JSON way."""

    data: pl.DataFrame

    def frame(self, first_line: int) -> pl.DataFrame:
        """The batch as (line, raw) JSON records numbered from `first_line`, for the JSON path."""
        return json_records(self.data, first_line)


def json_records(df: pl.DataFrame, first_line: int = 1) -> pl.DataFrame:
    """A columnar batch's rows as (line, raw) JSON records, numbered from `first_line`: the
    JSON lines' path, for a batch `decode_columns` does not read as columns. An `event` of
    JSON text is embedded as the object it is; structs are encoded."""
    if "event" in df.columns and isinstance(df.schema["event"], pl.Struct):
        df = df.with_columns(pl.col("event").struct.json_encode())
    if "metadata" in df.columns and isinstance(df.schema["metadata"], pl.Struct):
        df = df.with_columns(pl.col("metadata").struct.json_encode())
    # A JSON-string `event` column is embedded as an object, not a quoted string.
    if "event" in df.columns and df.schema["event"] == pl.String:
        rest = [c for c in df.columns if c != "event"]
        event = pl.col("event").fill_null("null")
        raw = (
            pl.concat_str(
                [
                    pl.lit('{"event":'),
                    event,
                    pl.lit(","),
                    pl.struct(rest).struct.json_encode().str.slice(1),
                ]
            )
            if rest
            else pl.concat_str([pl.lit('{"event":'), event, pl.lit("}")])
        )
    else:
        raw = pl.struct(df.columns).struct.json_encode()
    line = pl.int_range(first_line, first_line + pl.len(), dtype=pl.UInt32)
    return df.select(line.alias("line"), raw.alias("raw"))


def decode_columns(
    data: pl.DataFrame,
    first_line: int,
    fid: int,
    timestamp_fields: Sequence[str],
    keep_audio: bool = False,
) -> pl.DataFrame:
    """The frame `extract.extract_decoded` takes (line, raw, file, `_cut_len`, `_payload`
    with `keep_audio`, and `parse`'s columns) from a batch of envelope records; raises
    Irregular where the JSON path must decide. `raw` stays null: it is read only for
    rows to reject, and a batch with such a row goes the JSON way."""
    n = data.height
    schema = data.schema
    if "event" not in schema or "type" in schema or n == 0:
        raise Irregular("not envelope records")  # flat records: the row is the event's text
    for name, dtype in schema.items():
        if name not in ("event", "metadata") and isinstance(dtype, pl.Struct | pl.List):
            raise Irregular(f"a nested column {name}")  # in the JSON line it is searched too
    top = pl.DataFrame(
        [
            _timestamp(data, timestamp_fields).alias("_ts_text"),
            _text(data, "session_id").alias("session_id"),
            _text(data, "direction").alias("_direction"),
            _metadata(data).alias("_meta"),  # an audio row's is dropped by `extract`
        ]
    )
    if top.get_column("_ts_text").null_count():
        raise Irregular("a row without a timestamp")  # a reject, whose excerpt is its JSON
    event, direction = data.get_column("event"), top.get_column("_direction")
    if isinstance(event.dtype, pl.Struct):
        events, payload = _struct_events(event, direction, keep_audio)
    elif event.dtype == pl.String:
        events, payload = _text_events(event, direction, keep_audio)
    else:
        raise Irregular(f"an event column of type {event.dtype}")
    head = {
        "line": pl.int_range(first_line, first_line + n, dtype=pl.UInt32, eager=True),
        "raw": pl.repeat(None, n, dtype=pl.String, eager=True),
        "file": pl.repeat(fid, n, dtype=pl.UInt32, eager=True),
    }
    decoded = pl.concat([events, top], how="horizontal").select(COLUMNS)
    return pl.concat([pl.DataFrame(head), payload, decoded], how="horizontal")


def _audio_rows(raw_type: pl.Series, direction: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Each row's `_env` (every row must be an envelope: a flat record's text is its whole
    row) and whether it is an audio event (only its payload is read)."""
    env = (raw_type.is_not_null() | (direction == "app")).fill_null(False)
    if not env.all():
        raise Irregular("a row without an event type")  # flat, or a reject
    return env, raw_type.is_in(list(AUDIO_TYPES)) & (direction != "app").fill_null(True)


def _text_events(
    event: pl.Series, direction: pl.Series, keep_audio: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Events logged as JSON text: audio payloads cut and measured first, as the JSON path
    cuts them, then one decode of the rest for the fields extraction reads."""
    cut = cut_audio_payloads(event.alias("raw").to_frame(), keep_audio)
    text = cut.get_column("raw")
    fields = _text_fields(text)
    env, audio = _audio_rows(fields.get_column("_raw_type"), direction)
    if (audio & cut.get_column("_cut_len").is_null()).any():
        raise Irregular("an audio row the JSON path would measure otherwise")
    texts = pl.select(pl.when(~audio).then(text)).to_series()
    if not texts.str.starts_with("{").all() or not texts.str.ends_with("}").all():
        raise Irregular("an event text with space around it")  # the JSON path trims it
    events = fields.with_columns(env.alias("_env"), texts.alias("_event"))
    return events, cut.drop("raw")


def _struct_events(
    event: pl.Series, direction: pl.Series, keep_audio: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Events logged as a struct: the fields extraction reads, read as fields; the JSON
    text of every row but the audio ones; the audio rows' payloads."""
    fields = _struct_fields(event)
    env, audio = _audio_rows(fields.get_column("_raw_type"), direction)
    kept = pl.select(pl.when(~audio).then(event)).to_series()
    texts = pl.select(pl.when(~audio).then(kept.struct.json_encode())).to_series()
    if texts.str.contains(AUDIO_TYPE).any():  # the JSON path would cut that text
        raise Irregular("an audio type inside another event")
    events = fields.with_columns(env.alias("_env"), texts.alias("_event"))
    return events, _struct_payload(event, audio, keep_audio)


def _text(data: pl.DataFrame, name: str) -> pl.Series:
    """A top-level column as the JSON path reads it into a text field: text as it is,
    integers as their digits; absent: null."""
    if name not in data.schema:
        return pl.repeat(None, data.height, dtype=pl.String, eager=True)
    dtype = data.schema[name]
    if dtype == pl.String:
        return data.get_column(name)
    if isinstance(dtype, _INTEGER) or dtype == pl.Null:
        return data.get_column(name).cast(pl.String)
    raise Irregular(f"{name} of type {dtype}")


def _timestamp(data: pl.DataFrame, fields: Sequence[str]) -> pl.Series:
    """The first timestamp column a row has a value in, as the JSON path reads its text. A
    date or time column is the text Polars writes for it in JSON (ISO 8601)."""
    texts: list[pl.Series] = []
    for name in dict.fromkeys(fields):
        if name not in data.schema or name == "event":
            continue
        dtype = data.schema[name]
        if isinstance(dtype, pl.Datetime | pl.Date):
            as_json = pl.struct(pl.col(name).alias("t")).struct.json_encode()
            texts.append(data.select(as_json.str.json_path_match("$.t")).to_series())
        else:
            texts.append(_text(data, name))
    if not texts:
        return pl.repeat(None, data.height, dtype=pl.String, eager=True)
    return pl.select(pl.coalesce(texts)).to_series()


def _metadata(data: pl.DataFrame) -> pl.Series:
    """`metadata` as the JSON path gives it: text as it is (a struct is encoded first)."""
    if "metadata" not in data.schema:
        return pl.repeat(None, data.height, dtype=pl.String, eager=True)
    column = data.get_column("metadata")
    if isinstance(column.dtype, pl.Struct):
        return column.struct.json_encode()
    if column.dtype in (pl.String, pl.Null):
        return column.cast(pl.String)
    raise Irregular(f"metadata of type {column.dtype}")


def _text_fields(event: pl.Series) -> pl.DataFrame:
    """The fields extraction reads from events logged as JSON text: one decode of them all
    (each a string or absent, as `parse` reads a regular line), the text kept as it is."""
    texts = event.to_list()
    if None in texts:
        raise Irregular("a row without an event")
    try:
        events = STRICT_EVENTS.decode("[" + ",".join(texts) + "]")
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise Irregular(str(exc)) from exc
    objects = [e for e in events if e is not None]
    if len(objects) != len(texts):  # a `null`, or a line holding two values
        raise Irregular("an event that is not one object")
    return pl.DataFrame(
        {
            "_raw_type": [e.type for e in objects],
            "_resp": [e.response_id for e in objects],
            "_app_name": [e.name for e in objects],
            "_created": [None if e.session is None else e.session.id for e in objects],
        },
        schema=dict.fromkeys(("_raw_type", "_resp", "_app_name", "_created"), pl.String),
    )


def _struct_fields(event: pl.Series) -> pl.DataFrame:
    """The fields extraction reads from an event struct, read as fields (each text, or
    absent from the struct)."""
    dtype = event.dtype
    assert isinstance(dtype, pl.Struct)
    names = {f.name: f.dtype for f in dtype.fields}
    if event.null_count():
        raise Irregular("a row without an event")

    def field(name: str, inner: str | None = None) -> pl.Series:
        kind = names.get(name)
        if kind is None:
            return pl.repeat(None, event.len(), dtype=pl.String, eager=True)
        if inner is not None:
            assert isinstance(kind, pl.Struct)
            kinds = {f.name: f.dtype for f in kind.fields}
            if kinds.get(inner) not in (pl.String, None):
                raise Irregular(f"event.{name}.{inner} of type {kinds.get(inner)}")
            if inner not in kinds:
                return pl.repeat(None, event.len(), dtype=pl.String, eager=True)
            return event.struct.field(name).struct.field(inner)
        if kind not in (pl.String, pl.Null):
            raise Irregular(f"event.{name} of type {kind}")
        return event.struct.field(name).cast(pl.String)

    session = names.get("session")
    if session is not None and not isinstance(session, pl.Struct | pl.Null):
        raise Irregular(f"event.session of type {session}")
    return pl.DataFrame(
        {
            "_raw_type": field("type"),
            "_resp": field("response_id"),
            "_app_name": field("name"),
            "_created": field("session", "id")
            if isinstance(session, pl.Struct)
            else pl.repeat(None, event.len(), dtype=pl.String, eager=True),
        }
    )


def _struct_payload(event: pl.Series, audio: pl.Series, keep_audio: bool) -> pl.DataFrame:
    """An audio row's base64 payload in an event struct: its length (`_cut_len`) and, with
    `keep_audio`, its bytes: the first of `delta`/`audio` to hold text, as encoding the
    struct would put it first (the JSON path's cut). A struct with such a name deeper in it,
    which the JSON path's search could meet first, goes the JSON way."""
    dtype = event.dtype
    assert isinstance(dtype, pl.Struct)
    order = [f.name for f in dtype.fields if f.name in _PAYLOAD_FIELDS and f.dtype == pl.String]
    for f in dtype.fields:  # encoded, a nested payload name could come first: null it must be
        nested = isinstance(f.dtype, pl.DataType) and _names_inside(f.dtype) & {*_PAYLOAD_FIELDS}
        if nested and (audio & event.struct.field(f.name).is_not_null()).any():
            raise Irregular(f"a payload name nested in event.{f.name}")
    values = [event.struct.field(name) for name in order]
    none = pl.repeat(None, event.len(), dtype=pl.String, eager=True)
    payload = pl.select(pl.when(audio).then(pl.coalesce(values or [none]))).to_series()
    length = payload.str.len_bytes().cast(pl.Int64)
    if (audio & length.is_null()).any():
        raise Irregular("an audio event without a payload to measure")
    out = {"_cut_len": length}
    if keep_audio:
        out["_payload"] = payload.cast(pl.Binary)
    return pl.DataFrame(out)


def _names_inside(dtype: pl.DataType) -> set[str]:
    """The field names nested in a struct or list type, at any depth."""
    if isinstance(dtype, pl.List | pl.Array):
        inner = dtype.inner
        return _names_inside(inner) if isinstance(inner, pl.DataType) else set()
    if isinstance(dtype, pl.Struct):
        out: set[str] = set()
        for f in dtype.fields:
            out.add(f.name)
            if isinstance(f.dtype, pl.DataType):
                out |= _names_inside(f.dtype)
        return out
    return set()
