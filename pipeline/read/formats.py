"""Formats: the input formats a run reads, one module each, in a small registry.

A file is read by the first format whose suffixes its (lowercased) name ends with, else by
the last, JSON lines (plain, `.gz`, `.zst`). A format gives its pieces as `Lines` (JSON
text `scan` reads in place) or `Columns` (a columnar batch `columns` reads as columns), and
`Overlong` for a record past the line limit; each can also be had as `(line, raw)` JSON
records, the path `extract` takes for anything irregular. Adding one (Avro, say) is a module
`read/avro.py` with a `read(path, slice_bytes, max_line)` and one line in `FORMATS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from pipeline.read import parquet
from pipeline.read.columns import Columns
from pipeline.read.raw import (
    JSONL_SUFFIXES,
    MAX_LINE_BYTES,
    SLICE_BYTES,
    Lines,
    Overlong,
    line_density,
    read_json_lines,
)

Piece = Lines | Columns | Overlong


@dataclass(frozen=True, slots=True)
class InputFormat:
    name: str
    # what a file's lowercased name ends with (also how a directory walk knows its files)
    suffixes: tuple[str, ...]
    read: Callable[[str, int, int], Iterator[Piece]]
    # its records counted without reading them (a row-counted format's metadata); None:
    # estimated from the file's line density
    rows: Callable[[str], int] | None = None
    # a writer may still be appending to it: a last line without its newline, in a file
    # changed within --settle, is held for the next run rather than rejected
    appendable: bool = False


FORMATS: tuple[InputFormat, ...] = (
    InputFormat("parquet", (".parquet",), parquet.read_parquet, parquet.rows),
    # the last is the fallback: any other name (a rotated `app.log.1`, a `.gz`) is JSON lines
    InputFormat("jsonl", JSONL_SUFFIXES, read_json_lines, appendable=True),
)


def log_suffixes() -> tuple[str, ...]:
    """Every name ending some format reads: how a directory walk knows a log."""
    return tuple(s for f in FORMATS for s in f.suffixes)


def format_of(path: str) -> InputFormat:
    name = path.lower()
    return next((f for f in FORMATS if name.endswith(f.suffixes)), FORMATS[-1])


def read_raw(
    path: str, slice_bytes: int = SLICE_BYTES, max_line: int = MAX_LINE_BYTES
) -> Iterator[Piece]:
    """A file's records in pieces of about `slice_bytes`, by its format."""
    return format_of(path).read(path, slice_bytes, max_line)


def estimated_events(files: Sequence[str], sample: int = 8) -> int:
    """About how many events the files hold, without reading them: the row counts of
    row-counted formats, and for the others their size times the line density of the
    first 256 KiB of up to `sample` files (the unit that decides whether worker processes
    pay off)."""
    counted, rest = 0, []
    for f in files:
        fmt = format_of(f)
        if fmt.rows is None:
            rest.append(f)
            continue
        try:
            counted += fmt.rows(f)
        except Exception:
            continue  # unreadable: its reject comes when it is read
    return counted + line_density(rest, sample)
