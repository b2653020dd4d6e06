"""Scan: a slice of JSON lines, as bytes, straight to the decoded columns in one pass.

The Polars path goes bytes → a frame of lines (`read_lines`) → the audio payloads
cut by regex → the lines back out as Python strings for the decoder (`parse`). This
pass does the same work on the bytes where they lie (the reader's buffer): audio lines
are found by a C search from each line's start, an audio line has its base64 payload
measured and skipped (the payload, most of a voice log's bytes, is never decoded nor
copied again), and the lines between two audio lines become strings at once. The frame
it gives is the Polars path's (`test_load` compares them on every sample and real log).

A slice that is not valid UTF-8, or has non-ASCII before an audio payload, raises
`Irregular` and goes the Polars way instead; an irregular line within a slice is
decoded the Polars way, and the rest of its slice stays here (`parse`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import polars as pl

from pipeline.read.extract import polars_columns
from pipeline.read.parse import Irregular, decoded_frame
from pipeline.read.raw import Lines

# The literal forms `extract` searches for (`_AUDIO_TYPE`, `_PAYLOAD_KEY`), on bytes.
_AUDIO_TYPE = re.compile(
    rb'"type": ?"(?:input_audio_buffer\.append|response\.output_audio\.delta|response\.audio\.delta)"'
)
_PAYLOAD_KEY = re.compile(rb'"(?:delta|audio)": ?"')
_CR = 13


def _texts(
    lines: Lines, keep_audio: bool = False
) -> tuple[list[str], list[int | None], list[bytes | None]]:
    """Each line as text (an audio line without its payload), the payload's length, and
    with `keep_audio` the payload itself (its one copy, for --audio).

    Lines are cut as Polars' `read_lines` cuts them: on `\\n`, a trailing `\\r` dropped,
    no empty line after a final newline. A regex search finds the next audio line
    (each search starts at a line's start: no payload is ever searched); the lines
    between two of them are decoded and split at once, in C.
    """
    data, pos, end = lines.data, lines.start, lines.end
    find, key, audio = data.find, _PAYLOAD_KEY.search, _AUDIO_TYPE.search
    texts: list[str] = []
    cut_lens: list[int | None] = []
    payloads: list[bytes | None] = []

    def plain(stop: int) -> None:
        """The lines of `data[pos:stop]` (which ends at a line's end), none of them audio."""
        if stop <= pos:
            return
        chunk = data[pos:stop].decode()
        cut = chunk.split("\n")
        if chunk[-1] == "\n":
            cut.pop()
        if "\r" in chunk:
            cut = [t[:-1] if t[-1:] == "\r" else t for t in cut]
        texts.extend(cut)
        cut_lens.extend([None] * len(cut))
        if keep_audio:
            payloads.extend([None] * len(cut))

    try:
        while m := audio(data, pos, end):  # from the next line on: payloads are never searched
            first = data.rfind(b"\n", pos, m.start()) + 1 or pos  # the audio line's start
            plain(first)
            nl = find(b"\n", first, end)
            if nl < 0:
                nl = end
            stop = nl - 1 if nl > first and data[nl - 1] == _CR else nl
            k = key(data, first, stop)
            quote = find(b'"', k.end(), stop) if k else -1
            if k and quote >= 0:
                value = k.end()
                head = data[first:value]
                if not head.isascii():  # Polars counts characters there: its way
                    raise Irregular("non-ASCII before an audio payload")
                texts.append((head + data[quote:stop]).decode())
                cut_lens.append(quote - value)
                if keep_audio:
                    payloads.append(bytes(data[value:quote]))
            else:  # an audio type with no payload to cut: a line like any other
                texts.append(data[first:stop].decode())
                cut_lens.append(None)
                if keep_audio:
                    payloads.append(None)
            pos = nl + 1
        plain(end)
    except UnicodeDecodeError as exc:
        raise Irregular("invalid UTF-8") from exc
    return texts, cut_lens, payloads


def scan_lines(
    lines: Lines,
    first_line: int,
    fid: int,
    timestamp_fields: Sequence[str],
    keep_audio: bool = False,
) -> pl.DataFrame:
    """The frame `extract` decodes from these lines (columns line, raw with audio payloads
    cut, file, `_cut_len`, `_payload` with `keep_audio`, and `parse`'s columns); raises
    Irregular."""
    texts, cut_lens, payloads = _texts(lines, keep_audio)
    n = len(texts)
    columns = {
        "line": pl.int_range(first_line, first_line + n, dtype=pl.UInt32, eager=True),
        "raw": pl.Series(texts, dtype=pl.String),
        "file": pl.repeat(fid, n, dtype=pl.UInt32, eager=True),
        "_cut_len": pl.Series(cut_lens, dtype=pl.Int64),
    }
    if keep_audio:
        columns["_payload"] = pl.Series(payloads, dtype=pl.Binary)
    head = pl.DataFrame(columns)
    objects = lines.data.find(b"{", lines.start, lines.end) >= 0  # else blank or junk only
    return pl.concat(
        [head, decoded_frame(texts, timestamp_fields, polars_columns, objects)], how="horizontal"
    )
