"""Whole-output golden test: the complete OTLP JSON of `sample_logs/`, byte for byte.

Ids and times are deterministic, so any change to what realtrace emits for the
samples shows here. Two files are kept: the exact bytes (what is compared) and a
readable rendering (one span per block, JSON attributes parsed) so that the diff
of an intended change can be reviewed in the commit. Regenerate both with

    REALTRACE_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from conftest import SAMPLES, read_spans

from pipeline.config import RunConfig
from pipeline.run import run_convert

GOLDEN = Path(__file__).parent / "golden"
EXACT = GOLDEN / "sample_logs.otlp.jsonl"
READABLE = GOLDEN / "sample_logs.spans.json"


def readable(path: Path) -> str:
    """Spans in file order, attributes decoded and JSON-string attributes parsed."""
    out: list[dict[str, Any]] = []
    for span in read_spans(path):
        attrs: dict[str, Any] = {}
        for key, value in span.pop("_a").items():
            if isinstance(value, str) and key.endswith(
                (
                    "_json",
                    "metadata",
                    "metrics",
                    "messages",
                    "span_attributes",
                    "system_instructions",
                )
            ):
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            attrs[key] = value
        span["attributes"] = attrs
        out.append(span)
    return json.dumps(out, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def test_sample_logs_output_is_the_golden_output(tmp_path: Path) -> None:
    out = tmp_path / "traces.jsonl"
    result = run_convert(RunConfig.to_file(inputs=(str(SAMPLES),), output=out))
    assert result.exit_code == 0
    if os.environ.get("REALTRACE_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        EXACT.write_bytes(out.read_bytes())
        READABLE.write_text(readable(out), encoding="utf-8")
    # Readable first, so a failure shows which span and attribute moved.
    assert readable(out) == READABLE.read_text(encoding="utf-8")
    assert out.read_bytes() == EXACT.read_bytes()


AUDIO = GOLDEN / "sample_logs.audio.json"


def test_audio_dir_output_is_the_golden_output(tmp_path: Path) -> None:
    """`--audio dir:`: every span's audio reference and every WAV file (by SHA-256), and
    every reference names a file that exists (the invariant the issue asks to check)."""
    import dataclasses
    import hashlib

    from invariants import audio_problems

    base = RunConfig.to_file(inputs=(str(SAMPLES),), output=tmp_path / "t.jsonl")
    cfg = dataclasses.replace(
        base,
        mapping=dataclasses.replace(base.mapping, audio="dir"),
        audio_dir=tmp_path / "wav",
    )
    assert run_convert(cfg).exit_code == 0
    spans = read_spans(tmp_path / "t.jsonl")
    assert audio_problems(spans, tmp_path / "wav") == []
    doc = {
        "references": {
            s["spanId"]: sorted(refs) for s in spans if (refs := [r for r in _data_refs(s) if r])
        },
        "files": {
            str(p.relative_to(tmp_path / "wav")): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((tmp_path / "wav").rglob("*.wav"))
        },
    }
    text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
    if os.environ.get("REALTRACE_UPDATE_GOLDEN"):
        AUDIO.write_text(text)
    assert text == AUDIO.read_text()


def _data_refs(span: dict[str, Any]) -> list[str]:
    from invariants import audio_references

    return [r for r in audio_references(span) if isinstance(r, str)]
