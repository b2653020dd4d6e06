"""Property: randomly corrupted and truncated logs never crash the converter, and every line is accounted for."""

from __future__ import annotations

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


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
        result = run_convert(RunConfig(inputs=(str(path),), output=out))
        st_ = result.stats
        n_lines = len(data.split(b"\n")) if data else 0
        if data.endswith(b"\n"):
            n_lines -= 1
        if n_lines == 0:
            assert st_.rejected_lines == 1  # the empty file itself
            return
        assert st_.lines_read == n_lines
        assert st_.lines_read == st_.events + st_.rejected_lines + st_.blank_lines
        spans = read_spans(out)
        roots = [s for s in spans if not s.get("parentSpanId")]
        assert len(roots) == st_.sessions
        ids = {s["spanId"] for s in spans}
        assert all(s["parentSpanId"] in ids for s in spans if s.get("parentSpanId"))
        assert result.exit_code in (0, 4)
