"""Raw: the JSON lines input format (plain, gzip or zstd; local or in an object store) in
slices of bounded size, and the byte-level reading every format shares (opening a file
with its reads counted, sizes, the `Lines` and `Overlong` pieces `scan` and `load` take).

Nothing is parsed here: the pieces go to `scan`/`extract`. The formats a run can read are
listed in `read/formats.py`.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, cast

import polars as pl

from pipeline.errors import NotJsonLinesError
from pipeline.read import remote
from pipeline.read.meter import METER, Counted
from pipeline.read.remote import is_remote

# as fast as larger slices and a quarter of their buffer (README, performance)
SLICE_BYTES = 16 * 1024 * 1024
# Lines per slice at most: what a slice costs beyond its bytes is per line (a row, its
# columns), so 16 MiB of blank or one-byte lines must not become millions of rows at once.
SLICE_LINES = 65_536
MAX_LINE_BYTES = 64 * 1024 * 1024  # longer lines are rejected with their length, never read
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json", ".log")  # the JSON lines format's names
COMPRESSED_SUFFIXES = (".gz", ".zst", ".zstd")  # read through their decompressor


@dataclass(frozen=True, slots=True)
class Overlong:
    """A line longer than the limit, skipped without being held: its length in bytes."""

    length: int


def _line_cut(buf: bytes | bytearray, start: int, cut: int) -> int:
    """`cut`, or earlier: after the `SLICE_LINES`-th newline from `start`.

    A newline search a line (memchr) rather than `bytes.count`, a byte-at-a-time loop:
    a slice of long audio lines is counted four times faster (16 MiB: 4.7 -> 1.2 ms) and
    one of short lines as fast. Where the lines turn out short (blank or junk lines: a
    million a megabyte), they are counted a block at a time instead, and the block holding the last
    line halved down, the final few found one by one: a Python step a line there cost a second per 4 MiB of blank lines."""
    find, pos = buf.find, start
    for _ in range(min(SLICE_LINES, PROBE_LINES)):
        nl = find(b"\n", pos, cut)
        if nl < 0:
            return cut
        pos = nl + 1
    left = SLICE_LINES - PROBE_LINES
    if left > 0 and pos - start < PROBE_LINES * SHORT_LINE:  # short lines: count by blocks
        count = buf.count
        while pos < cut:
            end = min(pos + COUNT_BLOCK, cut)
            n = count(b"\n", pos, end)
            if n >= left:
                while end - pos > 256:  # the block holds the line sought: halve it down
                    mid = (pos + end) // 2
                    half = count(b"\n", pos, mid)
                    if half >= left:
                        end = mid
                    else:
                        left, pos = left - half, mid
                break
            left, pos = left - n, end
        else:
            return cut
    for _ in range(max(left, 0)):
        nl = find(b"\n", pos, cut)
        if nl < 0:
            return cut
        pos = nl + 1
    return pos if pos < cut else cut


PROBE_LINES = 256  # lines found one by one before judging their length
SHORT_LINE = 1024  # bytes: lines shorter on average are counted by blocks
COUNT_BLOCK = 1 << 16  # bytes counted at a time (at most that many lines found one by one)


BOM = b"\xef\xbb\xbf"


def open_counted(path: str) -> BinaryIO:
    """The file's bytes as stored (compressed or not), each read counted for progress."""
    raw = remote.open_binary(path) if is_remote(path) else open(path, "rb")  # noqa: SIM115
    return cast(BinaryIO, Counted(raw))


def _size(path: str) -> int:
    return remote.size(path) if is_remote(path) else os.path.getsize(path)


def stored_bytes(paths: Sequence[str]) -> int:
    """The files' sizes as stored (what the meter counts while reading them)."""
    total = 0
    for p in paths:
        try:
            total += _size(p)
        except OSError:
            continue  # unreadable: its reject comes when it is read
    return total


def _open_stream(path: str) -> BinaryIO:
    name = path.lower()
    if name.endswith(".gz"):
        return cast(BinaryIO, gzip.open(open_counted(path), "rb"))
    if name.endswith((".zst", ".zstd")):
        return cast(BinaryIO, _ZstdReader(open_counted(path)))
    return open_counted(path)


class _ZstdReader(io.RawIOBase):
    """zstd frames decompressed as they stream by, block by block, so that a truncated
    file still gives every line before the damage, and then says it was truncated
    (zstandard's stream reader ends quietly, as if the file were whole or empty)."""

    def __init__(self, raw: BinaryIO) -> None:
        import zstandard

        self._raw = raw
        self._new = zstandard.ZstdDecompressor().decompressobj
        self._dobj = self._new()
        self._pending = b""
        self._started = False  # inside a frame (input fed since the last frame ended)

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1) -> bytes:
        while not self._pending:
            chunk = self._raw.read(1 << 16)
            if not chunk:
                if self._started:
                    raise EOFError("zstd file ended before its frame did (truncated)")
                return b""
            while chunk:
                self._started = True
                self._pending += self._dobj.decompress(chunk)
                chunk = b""
                if self._dobj.eof:  # a frame ended: the next one, if any, in a new object
                    chunk = self._dobj.unused_data
                    self._dobj = self._new()
                    self._started = False
        n = len(self._pending) if size < 0 else size
        out, self._pending = self._pending[:n], self._pending[n:]
        return out

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all, when negative), as a file's read gives them."""
        parts: list[bytes] = []
        want = size
        while want != 0:
            chunk = self.read1(want)
            if not chunk:
                break
            parts.append(chunk)
            want = want - len(chunk) if want > 0 else want
        return b"".join(parts)

    def close(self) -> None:
        self._raw.close()
        super().close()


def _byte_slices(path: str, slice_bytes: int, max_line: int) -> Iterator[bytes | Overlong]:
    """The (decompressed) file in pieces of about `slice_bytes` (and `SLICE_LINES` lines at
    most), cut after a newline; a line longer than `max_line` is skipped as it streams by.

    Read in 1 MiB steps, so that a truncated or corrupt compressed file still
    yields every whole line before the damage; the error then goes up.
    """
    with _open_stream(path) as fh:
        buf = bytearray()
        skipping = -1  # the length so far of an overlong line being skipped, else -1
        try:
            # read1: what is there, a step at a time (a truncated gzip gives every whole
            # block before the damage, where read(n) fails before returning any of it)
            read = getattr(fh, "read1", fh.read)  # remote objects may only have read
            while chunk := read(min(slice_bytes, 1 << 20)):
                if skipping >= 0:
                    nl = chunk.find(b"\n")
                    if nl < 0:
                        skipping += len(chunk)
                        continue
                    yield Overlong(skipping + nl)
                    skipping, chunk = -1, chunk[nl + 1 :]
                buf += chunk
                while len(buf) >= slice_bytes or len(buf) > max_line:
                    cut = buf.rfind(b"\n") + 1
                    if cut == 0:
                        if len(buf) > max_line:  # no newline within the limit
                            skipping = len(buf)
                            buf.clear()
                        break
                    cut = _line_cut(buf, 0, cut)
                    yield bytes(buf[:cut])
                    del buf[:cut]
        except Exception:
            cut = buf.rfind(b"\n")
            if cut >= 0:
                yield bytes(buf[: cut + 1])
            raise
        if skipping >= 0:
            yield Overlong(skipping)
        while buf:
            cut = _line_cut(buf, 0, len(buf))
            yield bytes(buf[:cut])
            del buf[:cut]


def _lines_frame(data: bytes, first_line: int = 1) -> pl.DataFrame:
    """Raw lines with 1-based line numbers; invalid UTF-8 is replaced, not fatal."""
    if not data:
        return pl.DataFrame(schema={"line": pl.UInt32, "raw": pl.String})
    try:
        return pl.read_lines(data, name="raw", row_index_name="line", row_index_offset=first_line)
    except pl.exceptions.ComputeError:
        text = data.decode("utf-8", errors="replace").encode("utf-8")
        return pl.read_lines(text, name="raw", row_index_name="line", row_index_offset=first_line)


def _is_json_array(path: str, limit: int = 64 * 1024 * 1024) -> bool:
    """Whether a file starting with `[` is one JSON array (else its lines are read, and a
    stray `[` line is an ordinary reject). Files over `limit` are read as lines."""
    if _size(path) > limit:
        return False
    try:
        with _open_stream(path) as fh:
            return isinstance(json.loads(fh.read(limit + 1)), list)
    except Exception:
        return False


def _head(path: str) -> bytes:
    """The first bytes of the (decompressed) file, to recognise its shape."""
    try:
        with _open_stream(path) as fh:
            return fh.read(64)
    except Exception:
        return b""  # an unreadable file fails, with its reason, when it is read


@dataclass(frozen=True, slots=True)
class Lines:
    """Whole JSON lines: `data[start:end]`, a BOM already skipped.

    `data` is bytes (a decompressed or remote slice) or the reader's reused buffer:
    nothing more is copied until `scan` slices out what it keeps, so the base64
    audio (most of a voice log) is never copied again. Valid only until the reader moves
    on to the next slice (the buffer is then refilled).
    """

    data: bytes | bytearray
    start: int
    end: int

    def frame(self, first_line: int) -> pl.DataFrame:
        """The slice as a (line, raw) frame, for the Polars path."""
        return _lines_frame(bytes(self.data[self.start : self.end]), first_line)


class _Buffers(threading.local):
    """Read buffers kept from file to file, per thread: a fresh buffer pays a page fault
    per 4 KiB on first touch, four times the cost of the read itself. Mapping the file
    instead costs as little but dies of SIGBUS
    when a log is truncated under it (logrotate's copytruncate); a read just ends."""

    def __init__(self) -> None:
        self.free: list[bytearray] = []

    def take(self, size: int) -> bytearray:
        """A buffer of at least `size` bytes, for one reader at a time."""
        return self.free.pop() if self.free and len(self.free[-1]) >= size else bytearray(size)

    def give(self, buf: bytearray) -> None:
        self.free[:] = [buf]  # keep the last one only: memory stays one buffer per thread


_BUFFERS = _Buffers()


def _skip_line(fh: io.FileIO, buf: bytearray, seen: int) -> tuple[int, int, bool]:
    """Read past the rest of an overlong line into `buf` (as scratch). Returns the line's
    length, how many bytes after its newline are now at the start of `buf`, and whether
    the file ended."""
    with memoryview(buf) as view:
        while n := fh.readinto(view):
            METER.add(n)
            nl = buf.find(b"\n", 0, n)
            if nl >= 0:
                buf[: n - nl - 1] = buf[nl + 1 : n]
                return seen + nl, n - nl - 1, False
            seen += n
    return seen, 0, True


def _buffered_slices(path: str, slice_bytes: int, max_line: int) -> Iterator[Lines | Overlong]:
    """A local plain file in slices of about `slice_bytes` (`SLICE_LINES` lines at most),
    each cut after a newline, read into a reused buffer; a line longer than the buffer
    doubles it, up to `max_line`, past which the line is skipped, never held whole."""
    buf = _BUFFERS.take(min(slice_bytes, max_line + 1))
    filled, eof, first = 0, False, True
    try:
        with open(path, "rb", buffering=0) as fh:
            while True:
                with memoryview(buf) as view:
                    while filled < len(buf) and not eof:
                        n = fh.readinto(view[filled:])
                        eof = not n
                        filled += n or 0
                        METER.add(n or 0)
                if filled == 0:
                    return
                cut = filled if eof else buf.rfind(b"\n", 0, filled) + 1
                if filled > max_line and buf.find(b"\n", 0, min(filled, max_line + 1)) < 0:
                    # the slice starts with a line longer than the limit
                    if eof:
                        length, filled = filled, 0
                    else:
                        length, filled, eof = _skip_line(fh, buf, filled)
                    first = False
                    yield Overlong(length)
                    continue
                if cut == 0:  # one line longer than the buffer: a bigger one
                    bigger = bytearray(min(2 * len(buf), max_line + 1))
                    bigger[:filled] = buf[:filled]
                    buf = bigger
                    continue
                start = len(BOM) if first and buf.startswith(BOM) else 0
                cut = _line_cut(buf, start, cut)
                yield Lines(buf, start, cut)
                first = False
                rest = filled - cut
                buf[:rest] = buf[cut:filled]
                filled = rest
                if eof and not filled:
                    return
    finally:
        _BUFFERS.give(buf)


def read_json_lines(
    path: str, slice_bytes: int = SLICE_BYTES, max_line: int = MAX_LINE_BYTES
) -> Iterator[Lines | Overlong]:
    """A JSON lines file (plain, gzip or zstd, local or in an object store) in pieces of
    about `slice_bytes`, as `Lines` (which `scan` reads without building a frame of whole
    lines); a line longer than `max_line` as its `Overlong` length.

    Slicing bounds memory for huge files (a single multi-GB log), for files of
    countless short lines (`SLICE_LINES`) and for files of one endless line.
    """
    name = path.lower()
    head = _head(path)
    if head.lstrip().startswith(b"[") and _is_json_array(path):
        raise NotJsonLinesError("a JSON array, not JSON lines: write one event object per line")
    if not name.endswith(COMPRESSED_SUFFIXES) and not is_remote(path):
        yield from _buffered_slices(path, slice_bytes, max_line)
        return
    for i, data in enumerate(_byte_slices(path, slice_bytes, max_line)):
        if isinstance(data, Overlong):
            yield data
            continue
        start = len(BOM) if i == 0 and data.startswith(BOM) else 0
        yield Lines(data, start, len(data))


def line_density(files: Sequence[str], sample: int = 8) -> int:
    """About how many lines JSON lines files hold, without reading them: their size times
    the line density of the first 256 KiB of up to `sample` of them."""
    sizes: list[tuple[str, int]] = []
    for f in files:
        try:
            sizes.append((f, _size(f)))
        except Exception:
            continue  # unreadable: its reject comes when it is read
    step = max(1, len(sizes) // sample)
    seen = lines = 0
    for f, _ in sizes[::step][:sample]:
        try:
            with _open_stream(f) as fh:
                head = fh.read(256 * 1024)
        except Exception:
            continue
        seen += len(head)
        lines += head.count(b"\n")
    total = sum(size for _, size in sizes)
    return total * lines // seen if seen else 0
