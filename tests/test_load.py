"""Loading: record shapes, timestamp forms, formats, and every kind of bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import zstandard
from conftest import SAMPLES, read_spans, traces

from pipeline.inspection import load_sessions
from pipeline.read.files import find_inputs
from pipeline.read.load import LoadResult, ReadOptions, load_file


def inputs_of(inputs: list[str]) -> list[str]:
    return find_inputs(inputs)[0]


def load_all(files: list[str]) -> LoadResult:
    """Several files loaded as a run loads them (one by one), their results concatenated."""
    parts = [load_file(path, fid) for fid, path in enumerate(files)]
    return LoadResult(
        pl.concat([p.events for p in parts]),
        list(files),
        [r for p in parts for r in p.rejects],
        sum(p.lines_read for p in parts),
        sum(p.blank_lines for p in parts),
    )


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def ev(etype: str, **kw: object) -> dict[str, object]:
    return {"type": etype, "event_id": f"e_{etype}", **kw}


def test_timestamp_forms_keep_nanoseconds(tmp_path: Path) -> None:
    base = 1_764_000_000_123_456_789
    stamps = [
        "2025-11-24T16:00:00.123456789Z",
        "2025-11-24T18:00:00.123456789+02:00",
        "2025-11-24 16:00:00.123456789",
        1_764_000_000.123456789,  # float seconds: only as precise as the float
        "1764000000.123456789",
        1_764_000_000_123,
        1_764_000_000_123_456,
        base,
    ]
    lines = [
        json.dumps({"timestamp": ts, "session_id": "s", "event": ev("rate_limits.updated")})
        if not isinstance(ts, float)
        else '{"timestamp": 1764000000.123456789, "session_id": "s", "event": {"type": "rate_limits.updated"}}'
        for ts in stamps
    ]
    loaded = load_all([str(write(tmp_path / "a.jsonl", lines))])
    got = loaded.events.sort("line")["ts_ns"].to_list()
    assert got[:3] == [base, base, base]
    # a JSON float literal is read as a double by the JSON parser: microsecond-exact only
    assert abs(got[3] - base) < 1_000
    assert got[4] == base  # decimal text in a string is parsed exactly
    assert got[5] == 1_764_000_000_123_000_000
    assert got[6] == 1_764_000_000_123_456_000
    assert got[7] == base


def test_flat_and_envelope_records_and_alternate_timestamp_keys(tmp_path: Path) -> None:
    lines = [
        json.dumps({**ev("session.created", session={"id": "sess_A"}), "ts": 1_764_000_000_000}),
        json.dumps(
            {
                "received_at": 1_764_000_001_000,
                "event": ev("response.text.delta", response_id="r", delta="hi"),
            }
        ),
        json.dumps({**ev("custom.thing"), "logged_at": "2025-11-24T16:00:02Z"}),
    ]
    frame, rejects, _stats = load_sessions([str(write(tmp_path / "x.jsonl", lines))])
    assert rejects == []
    assert frame["type"].to_list() == [
        "session.created",
        "response.output_text.delta",
        "custom.thing",
    ]
    assert set(frame["session_key"].to_list()) == {
        "sess_A"
    }  # from session.created of the same file


def test_session_key_falls_back_to_file_and_spans_rotated_files(tmp_path: Path) -> None:
    a = write(
        tmp_path / "a.jsonl",
        [
            json.dumps(
                {
                    "ts": 2_000,
                    "session_id": "S",
                    "event": ev("response.created", response={"id": "r"}),
                }
            )
        ],
    )
    b = write(
        tmp_path / "b.jsonl",
        [
            json.dumps(
                {
                    "ts": 1_000,
                    "session_id": "S",
                    "event": ev("session.created", session={"id": "x"}),
                }
            )
        ],
    )
    c = write(tmp_path / "c.jsonl", [json.dumps({"ts": 5, "event": ev("response.created")})])
    frame, _, _ = load_sessions(inputs_of([str(tmp_path)]))
    assert frame.filter(pl.col("session_key") == "S")["type"].to_list() == [
        "session.created",
        "response.created",
    ]
    (key,) = frame.filter(pl.col("session_key") != "S")["session_key"].to_list()
    assert key.startswith("log:") and str(c) not in key  # its content, never its path
    assert sorted(inputs_of([str(tmp_path / "*.jsonl")])) == sorted(map(str, [a, b, c]))


def test_compressed_inputs(tmp_path: Path) -> None:
    line = (
        json.dumps(
            {
                "ts": 1_764_000_000_000,
                "session_id": "z",
                "event": ev("session.created", session={"id": "z"}),
            }
        )
        + "\n"
    )
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(line.encode()))
    (tmp_path / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(line.encode()))
    loaded = load_all(inputs_of([str(tmp_path)]))
    assert loaded.events.height == 2 and loaded.rejects == []


def test_parquet_struct_event_and_missing_timestamp_column(tmp_path: Path) -> None:
    ok = pl.DataFrame(
        {
            "timestamp": pl.Series([1_764_000_000_000_000_001], dtype=pl.Int64).cast(
                pl.Datetime("ns", "UTC")
            ),
            "event": [{"type": "session.created", "event_id": "e1", "session": {"id": "sess_P"}}],
        }
    )
    ok.write_parquet(tmp_path / "ok.parquet")
    pl.DataFrame({"event": ['{"type":"response.created"}']}).write_parquet(
        tmp_path / "nots.parquet"
    )
    loaded = load_all([str(tmp_path / "ok.parquet"), str(tmp_path / "nots.parquet")])
    assert loaded.events["ts_ns"].to_list() == [1_764_000_000_000_000_001]
    assert [(Path(r.file).name, r.line, r.reason) for r in loaded.rejects] == [
        ("nots.parquet", 1, "no timestamp field")
    ]


def test_bad_lines_are_rejected_with_line_and_reason(tmp_path: Path) -> None:
    good = json.dumps(
        {
            "ts": 1_764_000_000_000,
            "session_id": "s",
            "event": ev("session.created", session={"id": "s"}),
        }
    )
    lines = [
        good,
        "{not json",
        "",
        "[1, 2]",
        json.dumps({"session_id": "s", "event": ev("response.created")}),
        json.dumps({"ts": "yesterday", "event": ev("response.created")}),
        json.dumps({"ts": 5, "foo": 1}),
        good,
    ]
    path = write(tmp_path / "bad.jsonl", lines)
    loaded = load_all([str(path)])
    reasons = {r.line: r.reason for r in loaded.rejects}
    assert reasons == {
        2: "malformed JSON or no event type",
        4: "malformed JSON (not a JSON object)",
        5: "no timestamp field",
        6: "unparseable timestamp",
        7: "malformed JSON or no event type",
    }
    assert loaded.events["line"].to_list() == [1, 8]
    assert loaded.blank_lines == 1
    assert loaded.lines_read == loaded.events.height + len(loaded.rejects) + loaded.blank_lines


def test_empty_unreadable_and_binary_files_are_counted(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "bin.jsonl").write_bytes(bytes(range(256)) * 10)
    (tmp_path / "broken.jsonl.gz").write_bytes(b"\x1f\x8b not really gzip")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 nope")
    loaded = load_all(inputs_of([str(tmp_path)]))
    by_file = {Path(r.file).name: r.reason for r in loaded.rejects if r.line == 0}
    assert by_file["empty.jsonl"] == "empty file"
    assert by_file["broken.jsonl.gz"].startswith("unreadable file")
    assert by_file["broken.parquet"].startswith("unreadable file")
    assert any(Path(r.file).name == "bin.jsonl" and r.line > 0 for r in loaded.rejects)
    assert loaded.events.height == 0


def test_audio_payload_length_with_any_spacing(tmp_path: Path) -> None:
    b64 = "QUJD" * 300
    lines = [
        json.dumps(
            {
                "ts": 1,
                "session_id": "s",
                "event": {"type": "response.audio.delta", "response_id": "r1", "delta": b64},
            }
        ),
        json.dumps(
            {
                "ts": 2,
                "session_id": "s",
                "event": {"type": "input_audio_buffer.append", "audio": b64[:40]},
            },
            separators=(",", ":"),
        ),
        '{"ts": 3, "session_id": "s", "event": {"type": "response.output_audio.delta", "response_id": "r1", "delta" :  "'
        + b64
        + '"}}',
        json.dumps(
            {
                "ts": 4,
                "session_id": "s",
                "type": "response.output_audio.delta",
                "response_id": "r2",
                "delta": b64[:8],
            }
        ),
    ]
    loaded = load_all([str(write(tmp_path / "a.jsonl", lines))])
    got = loaded.events.sort("line").select("audio_b64_len", "response_id", "event").rows()
    assert got == [(1200, "r1", None), (40, None, None), (1200, "r1", None), (8, "r2", None)]


def test_huge_files_are_read_in_slices_with_exact_line_numbers(tmp_path: Path) -> None:
    from pipeline.read.load import load_file

    src = (
        Path(__file__).parent.parent / "sample_logs" / "2025-11-24" / "voice_ga.jsonl"
    ).read_text()
    lines = src.splitlines()
    lines.insert(100, "{broken")
    lines.insert(200, "")
    at = next(i for i, x in enumerate(lines) if i > 120 and "output_audio.delta" in x)
    long_delta = lines[at].replace('"delta":"', '"delta":"' + "QUJD" * 5000)  # > a slice
    assert len(long_delta) > 20_000
    lines.insert(at, long_delta)
    text = "\n".join(lines) + "\n"
    (tmp_path / "big.jsonl").write_text(text)
    (tmp_path / "big.jsonl.gz").write_bytes(gzip.compress(text.encode()))
    whole = load_file(str(tmp_path / "big.jsonl"), 0)
    for name in ("big.jsonl", "big.jsonl.gz"):
        sliced = load_file(str(tmp_path / name), 0, ReadOptions(slice_bytes=4096))
        assert sliced.events.sort("line").equals(whole.events.sort("line"))
        assert [(r.line, r.reason) for r in sliced.rejects] == [
            (101, "malformed JSON or no event type")
        ]
        assert sliced.events.filter(pl.col("line") == at + 1)["audio_b64_len"].item() > 20_000
        assert (sliced.lines_read, sliced.blank_lines) == (len(lines), 1)


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    from pipeline.read.load import load_file

    text = (
        Path(__file__).parent.parent / "sample_logs" / "2025-11-24" / "voice_ga.jsonl"
    ).read_bytes()
    data = gzip.compress(text)
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    got = load_file(str(tmp_path / "cut.jsonl.gz"), 0, ReadOptions(slice_bytes=4096))
    assert got.events.height > 0
    assert got.rejects[-1].line == 0 and got.rejects[-1].reason.startswith(
        "unreadable file: after line"
    )


def test_parquet_is_read_in_record_batches_with_row_numbers(tmp_path: Path) -> None:
    """Slices of rows sized from the budget, also inside one big row group."""
    from pipeline.read.parquet import read_parquet

    n = 2000
    pl.DataFrame(
        {
            "ts": list(range(1_764_000_000_000, 1_764_000_000_000 + n)),
            "event": [
                json.dumps({"type": "rate_limits.updated", "event_id": f"e{i}"}) for i in range(n)
            ],
        }
    ).write_parquet(tmp_path / "p.parquet", row_group_size=n)  # one row group
    frames = list(read_parquet(str(tmp_path / "p.parquet"), slice_bytes=10_000))
    assert len(frames) == -(-n // 256)  # the smallest slice: 256 rows
    assert sum(f.data.height for f in frames) == n
    loaded = load_all([str(tmp_path / "p.parquet")])
    assert loaded.events["line"].sort().to_list() == list(range(1, n + 1)) and not loaded.rejects


def test_parquet_data_lake_layouts(tmp_path: Path) -> None:
    """Hive partitions, struct events, no metadata column, extra columns, and a schema
    that differs between the files of one directory all read; a `session_id=` folder keys
    the sessions and `dt=` reaches the root's metadata."""
    from pipeline.config import RunConfig
    from pipeline.run import run_convert

    src = [
        json.loads(x)
        for x in (SAMPLES / "2025-11-24" / "barge_in_beta.jsonl").read_text().splitlines()
    ]
    ts = [r.pop("ts") for r in src]
    for r in src:
        r.pop("session_id", None)
    lake = tmp_path / "lake"
    a = lake / "dt=2025-11-24" / "session_id=call-1"
    a.mkdir(parents=True)
    pl.DataFrame({"timestamp": ts, "event": [json.dumps(r) for r in src]}).write_parquet(
        a / "part-0.parquet", compression="zstd"
    )
    b = lake / "dt=2025-11-25" / "session_id=call-2"
    b.mkdir(parents=True)
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "timestamp": ts,
            "event": pa.array(src),  # a struct column: the union of every event's fields
            "metadata": [{"user_id": "u_9"}] * len(src),
            "region": ["eu"] * len(src),  # a column the other file does not have
        }
    )
    pq.write_table(table, b / "part-0.parquet")
    out = tmp_path / "t.jsonl"
    result = run_convert(RunConfig.to_file(inputs=(str(lake),), output=out))
    assert result.exit_code == 0 and result.stats.rejected_lines == 0

    got = traces(out)
    assert set(got) == {"call-1", "call-2"}
    meta1 = got["call-1"].json_attr(got["call-1"].root, "braintrust.metadata")
    meta2 = got["call-2"].json_attr(got["call-2"].root, "braintrust.metadata")
    assert meta1["dt"] == "2025-11-24" and (meta2["dt"], meta2["user_id"]) == ("2025-11-25", "u_9")
    spans1 = [(s["name"], s["startTimeUnixNano"]) for s in got["call-1"].spans]
    spans2 = [(s["name"], s["startTimeUnixNano"]) for s in got["call-2"].spans]
    assert spans1 == spans2 and len(spans1) > 5


def test_lake_parquet_gives_the_same_spans_as_jsonl(tmp_path: Path) -> None:
    """gen_logs writes the same sessions as JSONL and as a zstd, one-row-group data lake;
    realtrace turns both into byte-identical spans."""
    import subprocess
    import sys

    from pipeline.config import RunConfig
    from pipeline.run import run_convert

    for fmt in ("jsonl", "parquet-lake"):
        subprocess.run(
            [sys.executable, "scripts/gen_logs.py", "--out", str(tmp_path / fmt), "--sessions", "12",
             "--format", fmt, "--per-file", "5"],
            check=True, capture_output=True, cwd=SAMPLES.parent,
        )  # fmt: skip
    lake = sorted(p.relative_to(tmp_path) for p in (tmp_path / "parquet-lake").rglob("*.parquet"))
    assert lake and all(str(p).startswith("parquet-lake/dt=") for p in lake)
    out = {}
    for fmt in ("jsonl", "parquet-lake"):
        run_convert(
            RunConfig.to_file(inputs=(str(tmp_path / fmt),), output=tmp_path / f"{fmt}.out")
        )
        spans = read_spans(tmp_path / f"{fmt}.out")
        for span in spans:
            span.pop("attributes")  # compared decoded, as `_a`
            if not span.get("parentSpanId"):  # the root alone gains the dt= partition
                meta = json.loads(span["_a"]["braintrust.metadata"])
                assert fmt == "jsonl" or meta.pop("dt").startswith("2025-11-2")
                span["_a"]["braintrust.metadata"] = meta
        out[fmt] = sorted(json.dumps(x, sort_keys=True) for x in spans)
        assert len(spans) > 50
    assert out["jsonl"] == out["parquet-lake"]


def test_parquet_worker_decisions_count_rows_not_bytes_on_disk(tmp_path: Path) -> None:
    from pipeline.read.formats import estimated_events

    pad = "x" * 10_000  # every row distinct (no dictionary encoding), zstd shrinks them
    rows = [json.dumps({"type": "rate_limits.updated", "pad": pad + str(i)}) for i in range(500)]
    pl.DataFrame({"ts": list(range(500)), "event": rows}).write_parquet(
        tmp_path / "p.parquet", compression="zstd"
    )
    # 5 MB of events in a file zstd shrinks to a few kB: 500 events, not a few
    assert (tmp_path / "p.parquet").stat().st_size < 100_000
    assert estimated_events([str(tmp_path / "p.parquet")]) == 500


def test_typed_decoding_reads_exactly_what_the_polars_path_reads(tmp_path: Path) -> None:
    """The fast reader (read/parse.py) must give the frame the Polars decoders give, on the
    samples, the real logs and lines of every odd shape: every column equal, the event's text
    the same JSON (its bytes as logged, where Polars re-serializes it). An irregular line is
    decoded the Polars way alone: the other lines of its frame keep their own text."""
    import orjson
    import polars as pl
    import pytest
    from polars.testing import assert_frame_equal

    from pipeline.read import extract, load
    from pipeline.read.formats import read_raw
    from pipeline.read.parse import Irregular, parse_lines
    from pipeline.read.raw import Lines
    from pipeline.read.scan import scan_lines

    odd = tmp_path / "odd.jsonl"
    odd.write_text(
        "\n".join(
            [
                '{"ts": 1764000000.123456, "session_id": 7, "event": {"type": "session.created", "session": {"id": 9}}}',
                '{"timestamp": "2025-11-24T16:00:00Z", "direction": "app", "event": {"name": "crm", "ok": true}, "metadata": "plain"}',
                '{"timestamp": "2025-11-24T16:00:01Z", "type": "error", "metadata": {"é": "\\u2028", "n": [1, 2.0, null]}}',
                "   ",
                '{"timestamp": 1764000002, "event": {"type": "response.done", "response": {"usage": {"x": 1.5e-7}}}}',
                '{"timestamp": "2025-11-24T16:00:03Z", "event": {"type": "input_audio_buffer.append", "audio": "AAAA"}}',
                '{"timestamp": "2025-11-24T16:00:04Z", "event": {"delta": "QUJD", "type": "response.output_audio.delta", "response_id": "r"}}\r',
                '{"timestamp": "2025-11-24T16:00:05Z", "type": "response.audio.delta", "delta":"QUJDRA=="}',
                '{"timestamp": "2025-11-24T16:00:07Z", "event": {"type": "input_audio_buffer.append"}}',
            ]
        )
        + "\n"
    )
    non_ascii = tmp_path / "non-ascii-audio.jsonl"  # scanned the Polars way, not by bytes
    non_ascii.write_text(
        '{"timestamp": "2025-11-24T16:00:00Z", "note": "é", "event": {"type": "input_audio_buffer.append", "audio": "AAAA"}}'
    )
    irregular = tmp_path / "irregular.jsonl"
    irregular.write_text(
        '{"timestamp": "t", "event": {"type": {"nested": 1}}}\n{"ts": 1e30}\nnot json\n'
        '{"timestamp": "2025-11-24T16:00:06Z", "event": {"type": "input_audio_buffer.append", "audio": "unterminated}}\n'
    )
    crlf = tmp_path / "crlf.jsonl"  # Windows line ends, a blank line, no final newline
    crlf.write_bytes(
        b'{"timestamp": "2025-11-24T16:00:00Z", "event": {"type": "error"}}\r\n\r\n'
        b'{"timestamp": "2025-11-24T16:00:01Z", "event": {"type": "input_audio_buffer.append", "audio": "AAAA"}}\r\n'
        b'{"timestamp": "2025-11-24T16:00:02Z", "event": {"type": "error"}}\r'
    )
    real = Path(__file__).resolve().parents[2] / "shared" / "real-logs"
    paths = [*sorted(str(p) for p in SAMPLES.rglob("*.*")), str(odd), str(irregular), str(crlf)]
    paths.append(str(non_ascii))
    paths += sorted(str(p) for p in real.rglob("*.jsonl")) if real.is_dir() else []
    tf = ("timestamp", "ts", "time", "received_at", "logged_at")

    def polars_only(*_: object) -> pl.DataFrame:
        raise Irregular("the Polars path, for comparison")

    def same(fast: pl.DataFrame, slow: pl.DataFrame) -> None:
        assert_frame_equal(fast.drop("event"), slow.drop("event"))
        for a, b in zip(fast["event"], slow["event"], strict=True):
            assert a == b or orjson.loads(a) == orjson.loads(b), (a, b)

    for path in paths:
        for part in read_raw(path):
            scanned = load._extract(part, 1, 0, tf)  # one scan of the bytes (JSON lines)
            raw = part.frame(1).with_columns(pl.lit(0, dtype=pl.UInt32).alias("file"))
            fast = extract.extract_events(raw, tf)  # a frame of lines, one orjson pass
            original, extract.parse_lines = extract.parse_lines, polars_only
            try:
                slow = extract.extract_events(raw, tf)
            finally:
                extract.parse_lines = original
            same(fast, slow)
            same(scanned, slow)
    odd_parts = read_raw(str(odd))  # a part is valid while its reader is
    odd_lines = next(odd_parts)
    assert isinstance(odd_lines, Lines)
    assert scan_lines(odd_lines, 1, 0, tf).height == 9  # no irregular line there
    # An irregular line among regular ones: its row is Polars', theirs keep their bytes.
    mixed = tmp_path / "mixed.jsonl"
    good = '{"timestamp": "2025-11-24T16:00:00Z", "event": {"type": "error", "n": 1}}'
    mixed.write_text(
        f'{good}\n{{"timestamp": "t", "event": {{"type": {{"nested": 1}}}}}}\n{good}\n'
    )
    parts = read_raw(str(mixed))
    lines = next(parts)
    assert isinstance(lines, Lines)
    with pytest.raises(Irregular):  # no fallback given: the caller's to handle
        parse_lines(lines.frame(1), tf)
    events = scan_lines(lines, 1, 0, tf)["_event"].to_list()
    assert events == [
        '{"type": "error", "n": 1}',
        '{"type":{"nested":1}}',
        '{"type": "error", "n": 1}',
    ]


def _parquet_variants(tmp_path: Path) -> list[Path]:
    """The samples that hold as an Arrow struct (5 of them), written as Parquet the ways
    people export logs: event as a struct or JSON text, time as ISO text, a UTC datetime
    or integer nanoseconds, metadata as a struct or text, in `dt=` partition folders."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.read.extract import _timestamp_ns

    out = []
    for log in sorted(SAMPLES.rglob("*.jsonl")):
        recs = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        try:
            events = pa.array([r["event"] for r in recs])
        except (KeyError, pa.ArrowException):  # flat records, or types that do not unify
            continue
        text = pl.Series([str(r["timestamp"]) for r in recs])
        ns = pl.select(_timestamp_ns(pl.lit(text))).to_series()
        meta = [r.get("metadata") for r in recs]
        common = {
            "session_id": [r.get("session_id") for r in recs],
            "direction": [r.get("direction") for r in recs],
        }
        shapes = {
            "struct-iso": {"timestamp": text.to_list(), "event": events, "metadata": meta},
            "text-datetime": {
                "timestamp": pa.array(ns.to_list(), pa.timestamp("ns", "UTC")),
                "event": [json.dumps(r["event"], separators=(",", ":")) for r in recs],
                "metadata": [json.dumps(m) if m else None for m in meta],
            },
            "struct-ns": {"ts": ns.to_list(), "event": events},
        }
        for shape, columns in shapes.items():
            path = tmp_path / shape / "dt=2025-11-24" / f"{log.stem}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table({**columns, **common}), path)
            out.append(path)
    return out


def test_parquet_columns_are_read_as_their_json_records_are(tmp_path: Path) -> None:
    """A Parquet batch read as columns (`read/columns.py`) gives the frame its rows give as
    JSON records (the JSON lines' path): every column, event texts to the byte, audio
    payloads (kept or measured), for each export shape of the samples. Those shapes are
    read as columns, not the JSON way; odd batches go the JSON way and still agree."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from polars.testing import assert_frame_equal

    from pipeline.read import load
    from pipeline.read.columns import Columns, decode_columns
    from pipeline.read.extract import extract_events
    from pipeline.read.formats import read_raw
    from pipeline.read.parse import Irregular

    tf = ("timestamp", "ts", "time", "received_at", "logged_at")
    regular = _parquet_variants(tmp_path)
    assert len(regular) == 15
    audio_rows = load_file(str(regular[0]), 0, ReadOptions(keep_audio=True)).events
    assert audio_rows["audio_pcm"].is_not_null().sum() > 0
    ok = '{"type":"session.created","session":{"id":"s"}}'
    audio = '{"type":"input_audio_buffer.append","audio":"QUJD"}'
    odd = {  # each sends its batch the JSON way
        "null-event": {"timestamp": ["2025-11-24T16:00:00Z"] * 2, "event": [ok, None]},
        "spaced": {"timestamp": ["2025-11-24T16:00:00Z"], "event": [" " + ok]},
        "float-time": {"ts": [1764000000.25], "event": [ok]},
        "flat-type": {"timestamp": ["2025-11-24T16:00:00Z"], "type": ["x"], "event": [ok]},
        "bad-time": {"timestamp": ["2025-11-24T16:00:00Z", "never"], "event": [ok, ok]},
        "spaced-audio-type": {
            "timestamp": ["2025-11-24T16:00:00Z"],
            "event": ['{"type" : "input_audio_buffer.append", "audio":"QUJD"}'],
        },
        "not-json": {"timestamp": ["2025-11-24T16:00:00Z"], "event": ["{nope}"]},
        "int-type": {"timestamp": ["2025-11-24T16:00:00Z"], "event": ['{"type": 5}']},
        "nested-column": {
            "timestamp": ["2025-11-24T16:00:00Z"],
            "event": [ok],
            "context": [{"a": 1}],
        },
    }
    odd["app-audio"] = {  # read as columns: an app record's audio event is its text, cut
        "timestamp": ["2025-11-24T16:00:00Z"] * 2,
        "direction": ["app", None],
        "event": [audio, audio],
    }
    irregular = []
    for name, columns in odd.items():
        path = tmp_path / "odd" / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(columns), path)
        (regular if name == "app-audio" else irregular).append(path)
    for path in [*regular, *irregular]:
        for keep_audio in (False, True):
            for part in read_raw(str(path)):
                assert isinstance(part, Columns)
                fast = load._extract(part, 1, 0, tf, keep_audio)
                raw = part.frame(1).with_columns(pl.lit(0, dtype=pl.UInt32).alias("file"))
                assert_frame_equal(fast, extract_events(raw, tf, keep_audio))
                if path in regular:  # read as columns: no JSON way taken
                    decode_columns(part.data, 1, 0, tf, keep_audio)
                else:
                    try:
                        decoded = decode_columns(part.data, 1, 0, tf, keep_audio)
                    except Irregular:
                        continue
                    out = load.extract_decoded(decoded)
                    assert out["reject"].is_not_null().any(), path.name  # a reject: JSON way


def test_a_slice_holds_at_most_slice_lines_lines(tmp_path: Path) -> None:
    """The reader's line cap: 16 MiB of tiny lines never become millions of rows at once;
    every line is read once, the last one without its newline too."""
    from pipeline.read.formats import read_raw
    from pipeline.read.raw import SLICE_LINES, Lines

    path = tmp_path / "many.jsonl"
    path.write_bytes(b"{}\n" * (2 * SLICE_LINES + 5) + b"{}")
    counts = []
    for part in read_raw(str(path)):
        assert isinstance(part, Lines)
        text = bytes(part.data[part.start : part.end])
        counts.append(len(text.splitlines()))
    assert counts == [SLICE_LINES, SLICE_LINES, 6]


def test_one_far_year_among_good_rows_is_still_a_reject(tmp_path: Path) -> None:
    """A slice of good rows skips the reject reasons (`_maybe_rejected`): one row of a year
    OTLP cannot carry, which parses to a plausible wrong time, must still be found."""
    event = {"type": "session.created", "session": {"id": "s"}}
    for ts in ("2600-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "9999-12-31T00:00:00Z"):
        good = {"timestamp": "2025-11-24T16:00:00Z", "session_id": "s", "event": event}
        far = {"timestamp": ts, "session_id": "s", "event": event}
        path = write(tmp_path / "far.jsonl", [json.dumps(good), json.dumps(far)])
        loaded = load_all([str(path)])
        assert [(r.line, r.reason[:26]) for r in loaded.rejects] == [
            (2, "timestamp out of range (OT")
        ], ts
        assert loaded.events["line"].to_list() == [1]
