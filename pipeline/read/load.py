"""Load: event-log files (JSONL, gz/zst, Parquet) into one frame of typed event rows.

Every record is kept as a raw JSON string and only the fields the pipeline needs
are extracted with Polars expressions, so heterogeneous event schemas never break
schema inference (`read_ndjson` infers from the first rows and drops later keys).
Base64 audio payloads are measured and cut out before any JSON parsing, so the
bulk of a log (audio) is scanned once by a regex and never decoded.
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import unquote

import polars as pl

from pipeline.core.events import ALIASES, AUDIO_TYPES

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json", ".log")
COMPRESSED_SUFFIXES = (".gz", ".zst", ".zstd")
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
}


@dataclass(frozen=True, slots=True)
class Reject:
    """One input record that could not become an event, with the reason why."""

    file: str
    line: int
    reason: str
    excerpt: str = ""


@dataclass(slots=True)
class LoadResult:
    """Events of a set of files, plus the accounting of every line read."""

    events: pl.DataFrame
    files: list[str]
    rejects: list[Reject] = field(default_factory=list)
    lines_read: int = 0
    blank_lines: int = 0
    seconds: float = 0.0  # reading and extracting (the report's "read" stage)


def find_inputs(inputs: Iterable[str | os.PathLike[str]]) -> tuple[list[str], list[Reject]]:
    """Files named by paths, directories (recursive) and globs; and what could not be read.

    Each real file is read once, under its resolved absolute path, so that session
    keys and state records do not depend on how a path was spelled (`logs` or
    `/abs/logs`, a symlinked alias). Sorting fixes the file order used to break
    timestamp ties. Unreadable directories, dangling symlinks, globs matching
    nothing and directories without logs are returned as file-level rejects.
    """
    found: set[str] = set()
    problems: list[Reject] = []
    for item in inputs:
        text = os.fspath(item)
        if glob.has_magic(text):
            paths = [Path(p) for p in glob.glob(text, recursive=True)]
            if not paths:
                problems.append(Reject(text, 0, "glob matched no file"))
        else:
            paths = [Path(text)]
        for p in paths:
            if p.is_dir():
                before = len(found)
                _walk(p, found, problems)
                if len(found) == before:
                    problems.append(Reject(str(p), 0, "no log files in directory"))
            elif p.exists():
                found.add(os.path.realpath(p))
            elif p.is_symlink():
                problems.append(Reject(str(p), 0, "dangling symlink"))
            else:
                raise FileNotFoundError(f"input not found: {text}")
    return sorted(found), problems


def _walk(root: Path, found: set[str], problems: list[Reject]) -> None:
    def unreadable(exc: OSError) -> None:
        problems.append(Reject(str(exc.filename), 0, f"unreadable directory: {exc.strerror}"))

    for dirpath, _, names in os.walk(root, onerror=unreadable, followlinks=True):
        for name in names:
            f = Path(dirpath) / name
            if not is_log_file(f):
                continue
            if f.exists():
                found.add(os.path.realpath(f))
            elif f.is_symlink():
                problems.append(Reject(str(f), 0, "dangling symlink"))


def expand_inputs(inputs: Iterable[str | os.PathLike[str]]) -> list[str]:
    """The input files only (see `find_inputs`)."""
    return find_inputs(inputs)[0]


def is_log_file(path: Path) -> bool:
    """Whether a file found while walking a directory looks like an event log."""
    name = path.name.lower()
    for suffix in COMPRESSED_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name.endswith(JSONL_SUFFIXES) or name.endswith(".parquet")


SLICE_BYTES = 16 * 1024 * 1024  # measured: 16 MiB slices peak at ~0.6 GB RSS and run fastest
BOM = b"\xef\xbb\xbf"


def _open_stream(path: str) -> BinaryIO:
    name = path.lower()
    if name.endswith(".gz"):
        return cast(BinaryIO, gzip.open(path, "rb"))
    if name.endswith((".zst", ".zstd")):
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
    return open(path, "rb")


def _byte_slices(path: str, slice_bytes: int) -> Iterator[bytes]:
    """The (decompressed) file in pieces of about `slice_bytes`, cut after a newline.

    Read in 1 MiB steps, so that a truncated or corrupt compressed file still
    yields every whole line before the damage; the error then goes up.
    """
    with _open_stream(path) as fh:
        buf = bytearray()
        try:
            while chunk := fh.read(min(slice_bytes, 1 << 20)):
                buf += chunk
                if len(buf) >= slice_bytes:
                    cut = buf.rfind(b"\n")
                    if cut >= 0:
                        yield bytes(buf[: cut + 1])
                        del buf[: cut + 1]
        except Exception:
            cut = buf.rfind(b"\n")
            if cut >= 0:
                yield bytes(buf[: cut + 1])
            raise
        if buf:
            yield bytes(buf)


def _lines_frame(data: bytes, first_line: int = 1) -> pl.DataFrame:
    """Raw lines with 1-based line numbers; invalid UTF-8 is replaced, not fatal."""
    if first_line == 1 and data.startswith(BOM):
        data = data[len(BOM) :]
    if not data:
        return pl.DataFrame(schema={"line": pl.UInt32, "raw": pl.String})
    try:
        return pl.read_lines(data, name="raw", row_index_name="line", row_index_offset=first_line)
    except pl.exceptions.ComputeError:
        text = data.decode("utf-8", errors="replace").encode("utf-8")
        return pl.read_lines(text, name="raw", row_index_name="line", row_index_offset=first_line)


PARQUET_BATCH_ROWS = 65_536


def hive_partitions(path: str) -> dict[str, str]:
    """`key=value` folders of a data-lake path (`dt=2025-11-24/session_id=…/part-0.parquet`)."""
    out: dict[str, str] = {}
    for part in Path(path).parent.parts:
        key, sep, value = part.partition("=")
        if sep and key and value:
            out[key] = unquote(value)
    return out


def _uncompressed_bytes(md: Any) -> int:
    """The row groups' uncompressed sizes, from a Parquet file's metadata."""
    return sum(md.row_group(i).total_byte_size for i in range(md.num_row_groups))


def decoded_size(path: str) -> int:
    """Bytes the file holds once read: Parquet's own uncompressed size, else the file size.

    A zstd Parquet file of 2 MB can hold 1 GB of events; sizing workers and
    progress by the bytes on disk would treat it as tiny.
    """
    if path.lower().endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            return _uncompressed_bytes(pq.ParquetFile(path).metadata)
        except Exception:
            pass  # unreadable: its reject comes when it is read
    return os.path.getsize(path)


def _parquet_frames(path: str, slice_bytes: int = SLICE_BYTES) -> Iterator[pl.DataFrame]:
    """A Parquet file in slices of rows sized from the memory budget, numbered from row 1.

    The slice is `slice_bytes` of decoded data whatever the row-group size (a
    data lake's single 1 GB row group included): rows per batch come from the
    file's own metadata, and pages are streamed, not pre-buffered.
    """
    import pyarrow.parquet as pq

    first = 1
    partitions = hive_partitions(path)
    with pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20) as pf:
        columns = pf.schema_arrow.names
        if "event" not in columns and "type" not in columns:
            raise NotJsonLinesError(
                f"Parquet without an event column (found: {', '.join(columns) or 'none'}): "
                "expected `event` (JSON string or struct) or the flat event's `type`"
            )
        md = pf.metadata
        per_row = max(1, _uncompressed_bytes(md) // max(1, md.num_rows))
        batch_rows = max(256, min(PARQUET_BATCH_ROWS, slice_bytes // per_row))
        for batch in pf.iter_batches(batch_size=batch_rows):
            df = pl.from_arrow(batch)
            assert isinstance(df, pl.DataFrame)
            frame = _parquet_frame(_with_partitions(df, partitions), first)
            first += frame.height
            yield frame


def _with_partitions(df: pl.DataFrame, partitions: dict[str, str]) -> pl.DataFrame:
    """Partition folders as data: `session_id=` keys the sessions when the rows do not; the
    others (`dt=`…) join each row's `metadata`, which the root span's metadata gathers."""
    if not partitions:
        return df
    extra = {k: v for k, v in partitions.items() if k != "session_id"}
    if "session_id" in partitions and "session_id" not in df.columns:
        df = df.with_columns(pl.lit(partitions["session_id"]).alias("session_id"))
    if not extra:
        return df
    part_json = json.dumps(extra, separators=(",", ":"))
    if "metadata" not in df.columns:
        return df.with_columns(pl.lit(part_json).alias("metadata"))
    if isinstance(df.schema["metadata"], pl.Struct):
        df = df.with_columns(pl.col("metadata").struct.json_encode())
    meta = pl.col("metadata").cast(pl.String).str.strip_chars()
    is_object = meta.str.starts_with("{") & meta.str.ends_with("}") & (meta != "{}")
    merged = pl.concat_str([meta.str.strip_suffix("}"), pl.lit("," + part_json[1:])])
    return df.with_columns(
        pl.when(is_object).then(merged).otherwise(pl.lit(part_json)).alias("metadata")
    )


def _parquet_frame(df: pl.DataFrame, first_line: int = 1) -> pl.DataFrame:
    """Parquet rows as JSON-string records, so both formats share one extraction path."""
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


def _is_json_array(path: str, limit: int = 64 * 1024 * 1024) -> bool:
    """Whether a file starting with `[` is one JSON array (else its lines are read, and a
    stray `[` line is an ordinary reject). Files over `limit` are read as lines."""
    if os.path.getsize(path) > limit:
        return False
    try:
        with _open_stream(path) as fh:
            return isinstance(json.loads(fh.read(limit + 1)), list)
    except Exception:
        return False


class NotJsonLinesError(ValueError):
    """The whole file is of a shape realtrace does not read: one file-level reject."""


def _head(path: str) -> bytes:
    """The first bytes of the (decompressed) file, to recognise its shape."""
    try:
        with _open_stream(path) as fh:
            return fh.read(64)
    except Exception:
        return b""  # an unreadable file fails, with its reason, when it is read


def read_raw(path: str, slice_bytes: int = SLICE_BYTES) -> Iterator[pl.DataFrame]:
    """A file's records as (line, raw JSON text) frames of about `slice_bytes` each.

    Slicing bounds memory for huge files (a single multi-GB log); files up to one
    slice are read whole by Polars itself, which is faster than handing it bytes.
    """
    name = path.lower()
    if name.endswith(".parquet"):
        yield from _parquet_frames(path, slice_bytes)
        return
    head = _head(path)
    if head.lstrip().startswith(b"[") and _is_json_array(path):
        raise NotJsonLinesError("a JSON array, not JSON lines: write one event object per line")
    if (
        not name.endswith(COMPRESSED_SUFFIXES)
        and 0 < os.path.getsize(path) <= slice_bytes
        and not head.startswith(BOM)
    ):
        try:
            yield pl.read_lines(
                path, name="raw", row_index_name="line", row_index_offset=1, glob=False
            )
            return
        except pl.exceptions.ComputeError:
            pass  # invalid UTF-8: decoded with replacement below
    first = 1
    for data in _byte_slices(path, slice_bytes):
        frame = _lines_frame(data, first)
        first += frame.height
        yield frame


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
    from_num = int_part * scale + pl.when(int_part < 0).then(-frac_ns).otherwise(frac_ns)
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


def _coalesce_lazily(df: pl.DataFrame, exprs: Sequence[pl.Expr]) -> pl.Series:
    """First non-null of `exprs`, evaluating each later one only on rows still null.

    `pl.coalesce` would run every JSON path over every row; alternatives (other
    timestamp keys, the flat record shape) are rare, so this parses each line ~once.
    """
    out = df.select(exprs[0]).to_series()
    for expr in exprs[1:]:
        missing = out.is_null()
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
_AUDIO_TYPE = r'"type": ?"(?:input_audio_buffer\.append|response\.output_audio\.delta|response\.audio\.delta)"'


def _cut_audio_payloads(raw: pl.DataFrame) -> pl.DataFrame:
    """Lines that name an audio event type lose their payload (measured in `_cut_len`), so
    the JSON parse that follows reads a few hundred bytes instead of the whole line."""
    r = pl.col("raw")
    start, length = _payload_start(), _payload_len_by_search()
    cut = pl.when(r.str.contains(_AUDIO_TYPE) & start.is_not_null()).then(length)
    raw = raw.with_columns(cut.alias("_cut_len"))
    return raw.with_columns(
        pl.when(pl.col("_cut_len").is_not_null())
        .then(pl.concat_str([r.str.slice(0, start), r.str.slice(start + pl.col("_cut_len"))]))
        .otherwise(r)
        .alias("raw")
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


def extract_events(raw: pl.DataFrame, timestamp_fields: Sequence[str]) -> pl.DataFrame:
    """Typed event columns from raw records (columns file, line, raw).

    Rows that are not usable events keep a non-null `reject` reason; the caller
    splits them off. A file of regular lines is decoded in one parse per line;
    one irregular line (malformed, a field of an unexpected type) sends the whole
    frame through the tolerant path. Audio rows (most of a log's bytes) yield
    only type, time, session, response id and payload length; every other row
    also yields its event JSON for the state machine. Pure: frame in, frame out.
    """
    r = pl.col("raw")
    raw = _cut_audio_payloads(raw)
    try:
        df = _decode_fast(raw, timestamp_fields)
    except (pl.exceptions.ComputeError, pl.exceptions.PolarsError):
        df = _decode_robust(raw, timestamp_fields)
    is_audio = pl.col("_raw_type").is_in(list(AUDIO_TYPES)).fill_null(False)
    env = pl.col("_env")
    payload = _coalesce_lazily(
        df,
        [
            pl.when(is_audio).then(pl.col("_cut_len")),
            pl.when(is_audio).then(_payload_len_by_search()),
            pl.when(is_audio).then(
                pl.coalesce(
                    pl.when(env).then(_jp(r, "$.event.delta")).otherwise(_jp(r, "$.delta")),
                    pl.when(env).then(_jp(r, "$.event.audio")).otherwise(_jp(r, "$.audio")),
                )
                .str.len_bytes()
                .cast(pl.Int64)
            ),
        ],
    )
    # App records (trace model §5): an envelope saying "direction": "app" names its
    # step by the event's type or name; the state machine knows them by the `app.` prefix.
    app_type = pl.concat_str(
        pl.lit("app."),
        pl.coalesce(
            pl.col("_raw_type").str.strip_prefix("app."), pl.col("_app_name"), pl.lit("step")
        ),
    )
    df = df.with_columns(
        pl.when(pl.col("_direction") == "app")
        .then(app_type)
        .otherwise(pl.col("_raw_type"))
        .alias("_raw_type")
    )
    df = df.with_columns(
        pl.col("_raw_type").replace(ALIASES).alias("type"),
        _timestamp_ns(pl.col("_ts_text")).alias("ts_ns"),
        payload.alias("_payload_len"),
    ).with_columns(
        # anchored regexes stop at the first character: no copy of long lines
        pl.when(r.str.contains(r"^\s*$"))
        .then(pl.lit("blank"))
        .when(pl.col("_raw_type").is_null() & ~r.str.contains(r"^\s*\{"))
        .then(pl.lit("malformed JSON (not a JSON object)"))
        .when(pl.col("_raw_type").is_null())
        .then(pl.lit("malformed JSON or no event type"))
        .when(pl.col("_ts_text").is_null())
        .then(pl.lit("no timestamp field"))
        .when(pl.col("ts_ns").is_null())
        .then(pl.lit("unparseable timestamp"))
        .alias("reject"),
    )
    df = df.with_columns(
        pl.when(pl.col("reject").is_not_null()).then(r.str.slice(0, 200)).alias("excerpt")
    )
    audio = (
        df.drop("raw")
        .filter(is_audio)
        .with_columns(
            pl.col("_payload_len").fill_null(0).alias("audio_b64_len"),
            pl.col("_resp").alias("response_id"),
            pl.lit(None, dtype=pl.String).alias("event"),
            pl.lit(None, dtype=pl.String).alias("metadata"),
            pl.lit(None, dtype=pl.String).alias("created_session_id"),
        )
    )
    other = df.filter(~is_audio)
    event = pl.when(env).then(_jp(r, "$.event")).otherwise(r)
    other = other.with_columns(
        event.alias("event"), _jp(r, "$.metadata").alias("metadata")
    ).with_columns(
        pl.lit(None, dtype=pl.Int64).alias("audio_b64_len"),
        pl.lit(None, dtype=pl.String).alias("response_id"),
        pl.when(pl.col("type") == "session.created")
        .then(_jp(pl.col("event"), "$.session.id"))
        .alias("created_session_id"),
    )
    cols = [*EVENT_SCHEMA, "reject", "excerpt"]
    return pl.concat([other.select(cols), audio.select(cols)], how="vertical_relaxed")


def load_file(
    path: str,
    fid: int,
    timestamp_fields: Sequence[str] = DEFAULT_TIMESTAMP_FIELDS,
    slice_bytes: int = SLICE_BYTES,
) -> LoadResult:
    """One file's events and the accounting of each of its lines.

    Files are the unit of reading and slices of them the unit of parsing: memory
    holds one slice's raw text at a time, and one irregular line only sends its
    own slice down the tolerant parse.
    """
    started = time.perf_counter()
    events: list[pl.DataFrame] = []
    rejects: list[Reject] = []
    lines = blank = 0
    try:
        for raw in read_raw(path, slice_bytes):
            extracted = extract_events(
                raw.with_columns(pl.lit(fid, dtype=pl.UInt32).alias("file")), timestamp_fields
            )
            lines += extracted.height
            blank += extracted.filter(pl.col("reject") == "blank").height
            bad = extracted.filter(pl.col("reject").is_not_null() & (pl.col("reject") != "blank"))
            rejects += [
                Reject(path, n, reason, excerpt)
                for n, reason, excerpt in bad.select("line", "reject", "excerpt").iter_rows()
            ]
            events.append(extracted.filter(pl.col("reject").is_null()).select(list(EVENT_SCHEMA)))
    except NotJsonLinesError as exc:
        rejects.append(Reject(path, 0, str(exc)))
        return LoadResult(pl.DataFrame(schema=EVENT_SCHEMA), [path], rejects, 0, 0)
    except Exception as exc:  # unreadable/corrupt file (or its tail): counted, the batch goes on
        where = f" after line {lines}" if lines else ""
        rejects.append(
            Reject(path, 0, f"unreadable file{where}: {type(exc).__name__}: {exc}"[:300])
        )
    if lines == 0 and not rejects:
        rejects.append(Reject(path, 0, "empty file"))
    frame = pl.concat(events, how="vertical") if events else pl.DataFrame(schema=EVENT_SCHEMA)
    return LoadResult(frame, [path], rejects, lines, blank, time.perf_counter() - started)


def load_files(
    files: Sequence[str],
    timestamp_fields: Sequence[str] = DEFAULT_TIMESTAMP_FIELDS,
    file_ids: Sequence[int] | None = None,
) -> LoadResult:
    """Several files at once, concatenated (small inputs and tests; runs go file by file).

    `file_ids` number the files within the whole run's sorted input list when only
    some files are loaded, so tie-breaking by file stays stable.
    """
    ids = list(file_ids) if file_ids is not None else list(range(len(files)))
    parts = [load_file(path, fid, timestamp_fields) for fid, path in zip(ids, files, strict=True)]
    events = (
        pl.concat([p.events for p in parts], how="vertical")
        if parts
        else pl.DataFrame(schema=EVENT_SCHEMA)
    )
    return LoadResult(
        events,
        list(files),
        [r for p in parts for r in p.rejects],
        sum(p.lines_read for p in parts),
        sum(p.blank_lines for p in parts),
    )
