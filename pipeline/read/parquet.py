"""Parquet: the Parquet input format (a file, or a data lake's `key=value` folders) in
batches of rows sized from the memory budget, as `Columns`: extraction takes their
columns as they are (`read/columns.py`), or, for a batch it cannot, the rows as JSON
records (`columns.json_records`), the JSON lines' path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import polars as pl

from pipeline.errors import NotJsonLinesError
from pipeline.read.columns import Columns
from pipeline.read.raw import MAX_LINE_BYTES, SLICE_BYTES, open_counted

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


def read_parquet(
    path: str, slice_bytes: int = SLICE_BYTES, max_line: int = MAX_LINE_BYTES
) -> Iterator[Columns]:
    """A Parquet file in slices of rows sized from the memory budget.

    The slice is `slice_bytes` of decoded data whatever the row-group size (a
    data lake's single 1 GB row group included): rows per batch come from the
    file's own metadata, and pages are streamed, not pre-buffered.
    """
    import pyarrow.parquet as pq

    partitions = hive_partitions(path)
    with pq.ParquetFile(open_counted(path), pre_buffer=False, buffer_size=1 << 20) as pf:
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
            df = pl.from_arrow(_text_not_bytes(batch))
            assert isinstance(df, pl.DataFrame)
            yield Columns(_with_partitions(df, partitions))


def _text_not_bytes(batch: Any) -> Any:
    """Bytes where JSON text is expected (a binary `timestamp` column) as text, invalid UTF-8
    replaced (the row is then a reject with its reason): Polars cannot write bytes as JSON
    and panics. Rare: most files have no binary column, and are returned as they are."""
    import pyarrow as pa

    for i, f in enumerate(batch.schema):
        if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type):
            values = [
                None if v is None else v.decode("utf-8", "replace")
                for v in batch.column(i).to_pylist()
            ]
            batch = batch.set_column(i, f.name, pa.array(values, pa.string()))
    return batch


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


def rows(path: str) -> int:
    """The file's row count, from its metadata (nothing else is read)."""
    import pyarrow.parquet as pq  # only for Parquet: a slow import

    return int(pq.ParquetFile(open_counted(path)).metadata.num_rows)
