"""Extract: typed event columns from raw records, with Polars expressions.

Every record is kept as a raw JSON string and only the fields the pipeline needs
are extracted, so heterogeneous event schemas never break schema inference
(`read_ndjson` infers from the first rows and drops later keys). Base64 audio
payloads are measured and cut out before any JSON parsing, so the bulk of a log
(audio) is scanned once by a regex and never decoded.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from pipeline.core.events import ALIASES, AUDIO_TYPES
from pipeline.read.parse import NAMES, Irregular, parse_lines

# Events whose `session.id` keys a file's session (trace model §6): `session.created`, else
# `session.updated` (a log that begins after the connection opened); see sessionize.
SESSION_KEY_TYPES = ("session.created", "session.updated")

DEFAULT_TIMESTAMP_FIELDS: tuple[str, ...] = ("timestamp", "ts", "time", "received_at", "logged_at")

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.UInt32(),
    "line": pl.UInt32(),
    "ts_ns": pl.Int64(),
    "session_id": pl.String(),
    "type": pl.String(),
    "event": pl.String(),
    "audio_b64_len": pl.Int64(),
    "response_id": pl.String(),
    "metadata": pl.String(),
    "created_session_id": pl.String(),
    "audio_pcm": pl.Binary(),  # an audio event's decoded payload, with --audio only (else null)
}


def _jp(col: pl.Expr, path: str) -> pl.Expr:
    return col.str.json_path_match(path)


def _timestamp_ns(text: pl.Expr) -> pl.Expr:
    """Integer UTC nanoseconds from ISO-8601 text or an epoch number of any unit.

    Epoch numbers are handled as decimal text (integer and fraction parts apart)
    so no float rounding touches nanoseconds; the unit comes from the magnitude.
    """
    t = text.str.strip_chars().str.strip_chars('"')
    is_num = t.str.contains(r"^-?\d+(\.\d+)?$")
    int_part = t.str.extract(r"^(-?\d+)", 1).cast(pl.Int64, strict=False)
    frac = t.str.extract(r"\.(\d+)$", 1).fill_null("")
    mag = int_part.abs()
    digits = (
        pl.when(mag < 100_000_000_000)
        .then(9)
        .when(mag < 100_000_000_000_000)
        .then(6)
        .when(mag < 100_000_000_000_000_000)
        .then(3)
        .otherwise(0)
    )
    scale = pl.lit(10, dtype=pl.Int64).pow(digits)
    frac_ns = (
        pl.concat_str([frac, pl.lit("000000000")])
        .str.slice(0, digits)
        .cast(pl.Int64, strict=False)
        .fill_null(0)
    )
    from_num = (
        pl.when(mag > pl.lit(2**63 - 1, dtype=pl.Int64) // scale)
        .then(pl.lit(-1, dtype=pl.Int64))  # beyond 64-bit nanoseconds: out of range, not wrapped
        .otherwise(int_part * scale + pl.when(int_part < 0).then(-frac_ns).otherwise(frac_ns))
    )
    # Exponent notation (1.7e9) still parses, at float precision.
    sci = t.cast(pl.Float64, strict=False)
    sci_ns = (
        sci
        * pl.when(sci.abs() < 1e11)
        .then(1e9)
        .when(sci.abs() < 1e14)
        .then(1e6)
        .when(sci.abs() < 1e17)
        .then(1e3)
        .otherwise(1.0)
    ).cast(pl.Int64, strict=False)
    iso = pl.coalesce(
        t.str.to_datetime(format="%+", time_unit="ns", time_zone="UTC", strict=False),
        t.str.to_datetime(
            format="%Y-%m-%dT%H:%M:%S%.f", time_unit="ns", strict=False
        ).dt.replace_time_zone("UTC"),
        t.str.to_datetime(
            format="%Y-%m-%d %H:%M:%S%.f", time_unit="ns", strict=False
        ).dt.replace_time_zone("UTC"),
    ).dt.epoch("ns")
    return pl.when(is_num).then(from_num).otherwise(pl.coalesce(iso, sci_ns))


def _timestamps(df: pl.DataFrame) -> pl.Series:
    """`ts_ns` of every row: the RFC 3339 form loggers write, parsed alone first (one
    format is a small fraction of the whole expression's cost, which is most of a small
    slice's); the whole `_timestamp_ns` only for rows that are not in that form."""
    text = pl.col("_ts_text")
    rfc3339 = text.str.to_datetime(format="%+", time_unit="ns", time_zone="UTC", strict=False)
    return _coalesce_lazily(
        df, [rfc3339.dt.epoch("ns"), _timestamp_ns(text)], where=df["_ts_text"].is_not_null()
    ).alias("ts_ns")


def _coalesce_lazily(
    df: pl.DataFrame, exprs: Sequence[pl.Expr], where: pl.Series | None = None
) -> pl.Series:
    """First non-null of `exprs`, evaluating each later one only on rows still null (and,
    with `where`, only on the rows it marks: the others stay null).

    `pl.coalesce` would run every JSON path over every row; alternatives (other
    timestamp keys, the flat record shape) are rare, so this parses each line ~once.
    """
    out = df.select(exprs[0]).to_series()
    for expr in exprs[1:]:
        missing = out.is_null() if where is None else out.is_null() & where
        if not missing.any():
            break
        out = out.scatter(missing.arg_true(), df.filter(missing).select(expr).to_series())
    return out


_FIELDS = ("type", "response_id")


def _payload_start() -> pl.Expr:
    """Where the base64 payload starts, by literal search for `"delta":"` / `"audio":"`.

    Rows where the key is spelled otherwise (odd spacing) come out null and are
    measured by a JSON path instead.
    """
    r = pl.col("raw")
    starts = []
    for key in ("delta", "audio"):
        for sep in (":", ": "):
            lit = f'"{key}"{sep}"'
            starts.append(r.str.find(lit, literal=True) + len(lit))
    return pl.coalesce(starts)


def _payload_len_by_search() -> pl.Expr:
    """Length of the base64 payload: it ends at the first `"` (base64 has none)."""
    return pl.col("raw").str.slice(_payload_start()).str.find('"', literal=True).cast(pl.Int64)


# An audio event's type, found literally: such lines are measured, and their payload cut
# out before any JSON parse (it is most of a voice log's bytes).
AUDIO_TYPE = r'"type": ?"(?:input_audio_buffer\.append|response\.output_audio\.delta|response\.audio\.delta)"'


_PAYLOAD_KEY = r'"(?:delta|audio)": ?"'  # both keys are five letters: the value starts 9 or 10 on


def cut_audio_payloads(raw: pl.DataFrame, keep_audio: bool = False) -> pl.DataFrame:
    """Lines that name an audio event type lose their payload (measured in `_cut_len`), so
    the JSON parse that follows reads a few hundred bytes instead of the whole line.

    One lazy query: the payload's start is found once, by a regex that stops at the
    first match (early in the line), and its end by the first quote after it (base64
    has none); lines are copied only around the cut.
    """
    r = pl.col("raw")
    key = r.str.find(_PAYLOAD_KEY)
    value_start = pl.when(r.str.slice(key + 8, 1) == " ").then(key + 10).otherwise(key + 9)
    start, n = pl.col("_start"), pl.col("_cut_len")
    kept = [r.str.slice(start, n).cast(pl.Binary).alias("_payload")] if keep_audio else []
    return (
        raw.lazy()
        .with_columns(pl.when(r.str.contains(AUDIO_TYPE)).then(value_start).alias("_start"))
        .with_columns(
            r.str.slice(start).str.find('"', literal=True).cast(pl.Int64).alias("_cut_len")
        )
        .with_columns(*kept)
        .with_columns(
            pl.when(n.is_not_null())
            .then(pl.concat_str([r.str.slice(0, start), r.str.slice(start + n)]))
            .otherwise(r)
            .alias("raw")
        )
        .drop("_start")
        .collect()
    )


def _decode_fast(raw: pl.DataFrame, timestamp_fields: Sequence[str]) -> pl.DataFrame:
    """All needed fields in one JSON parse per line; raises on any irregular line."""
    inner = {k: pl.String() for k in (*_FIELDS, "name")}
    top = {
        k: pl.String()
        for k in (*timestamp_fields, "session_id", "direction", *_FIELDS)
        if k != "event"
    }
    d = raw["raw"].str.json_decode(pl.Struct({**top, "event": pl.Struct(inner)}))
    ev = d.struct.field("event")
    direction = d.struct.field("direction")
    env = ev.struct.field("type").is_not_null() | ((direction == "app") & ev.is_not_null())
    ts = d.struct.field(timestamp_fields[0])
    for name in timestamp_fields[1:]:
        ts = ts.fill_null(d.struct.field(name))

    def pick(name: str) -> pl.Series:
        return pl.select(
            pl.when(env).then(ev.struct.field(name)).otherwise(d.struct.field(name))
        ).to_series()

    return raw.with_columns(
        pick("type").alias("_raw_type"),
        env.alias("_env"),
        ts.alias("_ts_text"),
        d.struct.field("session_id").alias("session_id"),
        pick("response_id").alias("_resp"),
        direction.alias("_direction"),
        ev.struct.field("name").alias("_app_name"),
    )


def _decode_robust(raw: pl.DataFrame, timestamp_fields: Sequence[str]) -> pl.DataFrame:
    """Line by line tolerant: JSON paths return null on malformed lines instead of failing."""
    r = pl.col("raw")
    env_type = _coalesce_lazily(raw, [_jp(r, "$.event.type")])
    app_env = (pl.col("_direction") == "app") & _jp(r, "$.event").is_not_null()
    flat = pl.col("_env_type").is_null() & ~app_env.fill_null(False)
    df = raw.with_columns(
        env_type.alias("_env_type"),
        _coalesce_lazily(raw, [_jp(r, f"$.{name}") for name in timestamp_fields]).alias("_ts_text"),
        _jp(r, "$.session_id").alias("session_id"),
        _jp(r, "$.direction").alias("_direction"),
        _jp(r, "$.event.name").alias("_app_name"),
    )
    df = df.with_columns(
        _coalesce_lazily(df, [pl.col("_env_type"), pl.when(flat).then(_jp(r, "$.type"))]).alias(
            "_raw_type"
        ),
        (~flat).alias("_env"),
    )
    env = pl.col("_env")
    is_audio = pl.col("_raw_type").is_in(list(AUDIO_TYPES)).fill_null(False)
    return df.drop("_env_type").with_columns(
        pl.when(is_audio)
        .then(pl.when(env).then(_jp(r, "$.event.response_id")).otherwise(_jp(r, "$.response_id")))
        .alias("_resp"),
    )


def _is_audio() -> pl.Expr:
    return pl.col("_raw_type").is_in(list(AUDIO_TYPES)).fill_null(False)


def _payload_len(df: pl.DataFrame) -> pl.Series:
    """Audio payload length: cut before parsing, else found by search, else decoded."""
    r = pl.col("raw")
    is_audio = _is_audio()
    env = pl.col("_env")
    return _coalesce_lazily(
        df,
        [
            pl.when(is_audio).then(pl.col("_cut_len")),
            _payload_len_by_search(),
            pl.coalesce(
                pl.when(env).then(_jp(r, "$.event.delta")).otherwise(_jp(r, "$.delta")),
                pl.when(env).then(_jp(r, "$.event.audio")).otherwise(_jp(r, "$.audio")),
            )
            .str.len_bytes()
            .cast(pl.Int64),
        ],
        where=df.select(is_audio).to_series(),
    )


def _app_type() -> pl.Expr:
    """App records (trace model §5): an envelope saying "direction": "app" names its step
    by the event's type or name; the state machine knows them by the `app.` prefix."""
    step = pl.coalesce(
        pl.col("_raw_type").str.strip_prefix("app."), pl.col("_app_name"), pl.lit("step")
    )
    return (
        pl.when(pl.col("_direction") == "app")
        .then(pl.concat_str(pl.lit("app."), step))
        .otherwise(pl.col("_raw_type"))
    )


def _reject_reason() -> pl.Expr:
    """Why a row is not a usable event (null when it is)."""
    r = pl.col("raw")
    # anchored regexes stop at the first character: no copy of long lines
    return (
        pl.when(r.str.contains(r"^\s*$"))
        .then(pl.lit("blank"))
        .when(pl.col("_raw_type").is_null() & ~r.str.contains(r"^\s*\{"))
        .then(pl.lit("malformed JSON (not a JSON object)"))
        .when(pl.col("_raw_type").is_null() & r.str.contains(r"[\[{]{200}"))
        .then(pl.lit(TOO_DEEP))
        .when(pl.col("_raw_type").is_null())
        .then(pl.lit("malformed JSON or no event type"))
        .when(pl.col("_ts_text").is_null())
        .then(pl.lit("no timestamp field"))
        .when(_out_of_range(pl.col("_ts_text")) | (pl.col("ts_ns") < 0))
        .then(pl.lit(OUT_OF_RANGE))
        .when(pl.col("ts_ns").is_null())
        .then(pl.lit("unparseable timestamp"))
    )


TOO_DEEP = "JSON nested too deep (hundreds of levels): not decoded"
OUT_OF_RANGE = "timestamp out of range (OTLP's nanoseconds carry the years 1970 to 2261)"


def _out_of_range(text: pl.Expr) -> pl.Expr:
    """A date before 1970 or after 2261 (read as it is, it would overflow into a wrong
    time: 9999-12-31 came out in 1816, 2600 in 2015); epoch numbers beyond 64-bit
    nanoseconds come out negative from `_timestamp_ns`. Cheap: two slices, no regex."""
    t = text.str.strip_chars('" ')
    year = pl.when(t.str.slice(4, 1) == "-").then(t.str.slice(0, 4).cast(pl.Int64, strict=False))
    return ((year < 1970) | (year > 2261)).fill_null(False)


def extract_events(
    raw: pl.DataFrame, timestamp_fields: Sequence[str], keep_audio: bool = False
) -> pl.DataFrame:
    """Typed event columns from raw records (columns file, line, raw).

    Rows that are not usable events keep a non-null `reject` reason; the caller
    splits them off. A file of regular lines is decoded in one parse per line;
    one irregular line (malformed, a field of an unexpected type) sends the whole
    frame through the tolerant path. Audio rows (most of a log's bytes) yield
    only type, time, session, response id and payload length; every other row
    also yields its event JSON for the state machine. Pure: frame in, frame out.
    """
    return extract_decoded(_decode(cut_audio_payloads(raw, keep_audio), timestamp_fields))


def extract_decoded(df: pl.DataFrame) -> pl.DataFrame:
    """`extract_events` from the decoded frame on: the part `scan` shares."""
    r = pl.col("raw")
    payload = _payload_len(df)
    df = df.with_columns(_app_type().alias("_raw_type"))
    df = df.with_columns(
        pl.col("_raw_type").replace(ALIASES).alias("type"),
        _timestamps(df),
        payload.alias("_payload_len"),
    )
    if df.select(_maybe_rejected().any()).item():
        df = df.with_columns(_reject_reason().alias("reject"))
        df = df.with_columns(
            pl.when(pl.col("reject").is_not_null()).then(r.str.slice(0, 200)).alias("excerpt")
        )
    else:  # every row an event (nearly every slice): no reason to look for
        df = df.with_columns(pl.lit(None, pl.String).alias(c) for c in ("reject", "excerpt"))
    return _typed_rows(df)


def _maybe_rejected() -> pl.Expr:
    """Rows `_reject_reason` might reject, a cheap superset: no type, no time, a negative
    time, or a year out of range compared as text (4 characters compare as their number
    does whenever they cast to one; a quoted or padded time is looked at closely). A slice
    of good rows skips the reasons' regexes and casts, most of extraction's cost."""
    ts, text = pl.col("ts_ns"), pl.col("_ts_text")
    year = text.str.slice(0, 4)
    far = (text.str.slice(4, 1) == "-") & ((year < "1970") | (year > "2261"))
    padded = text.str.starts_with('"') | text.str.starts_with(" ")
    return pl.col("_raw_type").is_null() | ts.is_null() | (ts < 0) | (far | padded).fill_null(False)


def _decode(raw: pl.DataFrame, timestamp_fields: Sequence[str]) -> pl.DataFrame:
    """Two typed decodes a line (`parse`), its irregular lines the Polars way."""
    try:
        return parse_lines(raw, timestamp_fields, polars_columns)
    except Irregular:  # only where `parse_lines` is told to leave it all to Polars (tests)
        return _polars_decode(raw, timestamp_fields)


def _polars_decode(raw: pl.DataFrame, timestamp_fields: Sequence[str]) -> pl.DataFrame:
    """One Polars struct decode per line; else, with a malformed line, the tolerant JSON paths."""
    try:
        return _decode_fast(raw, timestamp_fields)
    except (pl.exceptions.ComputeError, pl.exceptions.PolarsError):
        return _decode_robust(raw, timestamp_fields)


def polars_columns(lines: list[str], timestamp_fields: Sequence[str]) -> pl.DataFrame:
    """`parse`'s columns of these lines, the Polars way: the fallback for its irregular
    lines (the event's text is Polars' compact re-serialization there)."""
    raw = pl.DataFrame({"raw": lines}, schema={"raw": pl.String})
    r = pl.col("raw")
    event = pl.when(pl.col("_env")).then(_jp(r, "$.event")).otherwise(r)
    return _polars_decode(raw, timestamp_fields).select(
        *NAMES,
        event.alias("_event"),
        _jp(r, "$.metadata").alias("_meta"),
        _jp(event, "$.session.id").alias("_created"),
    )


def _typed_rows(df: pl.DataFrame) -> pl.DataFrame:
    """Audio rows keep their payload length only; other rows their event JSON (one select,
    rows in their order: sessionizing sorts them)."""
    r = pl.col("raw")
    is_audio = _is_audio()
    other = ~is_audio
    env = pl.col("_env")
    parsed = "_event" in df.columns  # `parse` gave the texts already
    event = pl.col("_event") if parsed else pl.when(env).then(_jp(r, "$.event")).otherwise(r)
    metadata = pl.col("_meta") if parsed else _jp(r, "$.metadata")
    created = pl.col("_created") if parsed else _jp(event, "$.session.id")
    return df.select(
        "file",
        "line",
        "ts_ns",
        "session_id",
        "type",
        pl.when(other).then(event).alias("event"),
        pl.when(is_audio).then(pl.col("_payload_len").fill_null(0)).alias("audio_b64_len"),
        pl.when(is_audio).then(pl.col("_resp")).alias("response_id"),
        pl.when(other).then(metadata).alias("metadata"),
        pl.when(other & pl.col("type").is_in(SESSION_KEY_TYPES))
        .then(created)
        .alias("created_session_id"),
        # decoded here, for a slice at once (base64 is 4/3 of it; invalid base64: null)
        pl.when(is_audio)
        .then(pl.col("_payload").bin.decode("base64", strict=False))
        .alias("audio_pcm")
        if "_payload" in df.columns
        else pl.lit(None, pl.Binary).alias("audio_pcm"),
        "reject",
        "excerpt",
    )
