"""Property: randomly corrupted and truncated logs never crash the converter, and every line is accounted for."""

from __future__ import annotations

import functools
import gzip
import os
import tempfile
from pathlib import Path

from conftest import SAMPLES, read_spans
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import RunConfig
from pipeline.run import run_convert

BASE = [
    line
    for line in (SAMPLES / "2025-11-24" / "tools_ga.jsonl.gz")
    .parent.joinpath("barge_in_beta.jsonl")
    .read_text()
    .splitlines()
]

corruption = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, 10_000)),
    st.tuples(st.just("garbage"), st.binary(max_size=40)),
    st.tuples(st.just("drop"), st.just(0)),
    st.tuples(st.just("flip"), st.integers(0, 10_000)),
    st.tuples(st.just("blank"), st.just(0)),
)


def corrupt(lines: list[str], edits: list[tuple[int, tuple[str, object]]], cut: int) -> bytes:
    out = [line.encode() for line in lines]
    for idx, (op, arg) in edits:
        i = idx % len(out)
        if op == "truncate":
            out[i] = out[i][: int(arg) % (len(out[i]) + 1)]  # type: ignore[call-overload]
        elif op == "garbage":
            out[i] = bytes(arg).replace(b"\n", b" ")  # type: ignore[call-overload]
        elif op == "drop":
            out[i] = b""
        elif op == "flip":
            j = int(arg) % (len(out[i]) or 1)  # type: ignore[call-overload]
            out[i] = out[i][:j] + b"\x00}" + out[i][j + 1 :]
        elif op == "blank":
            out[i] = b"   "
    data = b"\n".join(out[: max(1, cut % (len(out) + 1))])
    return data


@settings(
    max_examples=int(os.environ.get("REALTRACE_PROPERTY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    edits=st.lists(st.tuples(st.integers(0, 10_000), corruption), max_size=25),
    cut=st.integers(0, 10_000),
)
def test_corrupted_logs_never_crash_and_account_for_every_line(
    edits: list[tuple[int, tuple[str, object]]], cut: int
) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "log.jsonl"
        data = corrupt(BASE, edits, cut)
        path.write_bytes(data)
        out = Path(d) / "t.jsonl"
        result = run_convert(RunConfig.to_file(inputs=(str(path),), output=out))
        st_ = result.stats
        n_lines = len(data.split(b"\n")) if data else 0
        if data.endswith(b"\n"):
            n_lines -= 1
        if n_lines == 0:
            assert st_.files_rejected == 1 and st_.rejected_lines == 0  # the empty file itself
            return
        assert st_.lines_read + st_.lines_held == n_lines  # a cut last line: held, live
        assert st_.lines_read == st_.events + st_.rejected_lines + st_.blank_lines
        spans = read_spans(out)
        roots = [s for s in spans if not s.get("parentSpanId")]
        assert len(roots) == st_.sessions
        ids = {s["spanId"] for s in spans}
        assert all(s["parentSpanId"] in ids for s in spans if s.get("parentSpanId"))
        assert result.exit_code in (0, 4)


# -- wrong types anywhere in an event -------------------------------------------------

WRONG = st.one_of(
    st.just("[Object]"),
    st.integers(-3, 10**12),
    st.booleans(),
    st.none(),
    st.just([]),
    st.just({}),
    st.lists(st.integers(), max_size=3),
    st.text(max_size=5),
)
BASES = [
    (SAMPLES / "2025-11-24" / "voice_ga.jsonl").read_text().splitlines(),
    gzip.decompress((SAMPLES / "2025-11-24" / "tools_ga.jsonl.gz").read_bytes())
    .decode()
    .splitlines(),
    (SAMPLES / "2025-11-24" / "errors_ga.jsonl").read_text().splitlines(),
]


def _paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every path to a value inside a JSON document (the event's own fields)."""
    out: list[tuple[object, ...]] = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: dict[str, object], path: tuple[object, ...], value: object) -> None:
    target: object = doc
    for step in path[:-1]:
        target = target[step]  # type: ignore[index]
    target[path[-1]] = value  # type: ignore[index]


CLEAN = SAMPLES / "2025-11-24" / "barge_in_beta.jsonl"


@functools.cache
def _clean_alone() -> list[dict[str, object]]:
    """The clean session's spans converted alone: once, not in every example."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "alone.jsonl"
        assert run_convert(RunConfig.to_file(inputs=(str(CLEAN),), output=out)).exit_code == 0
        return read_spans(out)


@settings(
    max_examples=int(os.environ.get("REALTRACE_PROPERTY_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_fields_of_wrong_types_never_escape_and_other_sessions_convert(data: st.DataObject) -> None:
    """Any field of any event given a wrong type: no exception escapes the run, the other
    session's trace is exactly what it is alone, and the damaged one converts or is rejected."""
    import json

    events = [json.loads(line) for line in data.draw(st.sampled_from(BASES))]
    for _ in range(data.draw(st.integers(1, 12))):
        i = data.draw(st.integers(0, len(events) - 1))
        paths = [p for p in _paths(events[i]["event"]) if p != ("type",)]
        if paths:
            _set(events[i]["event"], data.draw(st.sampled_from(paths)), data.draw(WRONG))
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "in").mkdir()
        for e in events:
            e["session_id"] = "damaged"
        (root / "in" / "damaged.jsonl").write_text("\n".join(json.dumps(e) for e in events))
        (root / "in" / "clean.jsonl").write_text(CLEAN.read_text())
        result = run_convert(
            RunConfig.to_file(inputs=(str(root / "in"),), output=root / "both.jsonl")
        )
        assert result.exit_code == 0
        both = read_spans(root / "both.jsonl")
        from invariants import problems

        assert not problems(both)
        single = _clean_alone()
        tid = single[0]["traceId"]
        assert [s for s in both if s["traceId"] == tid] == single
        damaged = [s for s in both if s["traceId"] != tid]
        rejects = (root / "both.rejects.jsonl").read_text()
        assert damaged or "session damaged:" in rejects
