"""Docs that cannot drift: the README's console examples run, and its reference tables are
what scripts/gen_docs.py generates from the code."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, SAMPLES
from gen_docs import render

from pipeline.cli import main

README = (ROOT / "README.md").read_text(encoding="utf-8")
REFERENCE = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")


def console_examples() -> list[tuple[str, list[str]]]:
    """(command line, expected output lines) of every `$ realtrace` in ```console blocks."""
    out: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", README, re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            elif out:
                out[-1][1].append(line)
    return out


def normalise(line: str, tmp: Path) -> str:
    line = line.replace(f"{tmp}/", "").rstrip()
    return re.sub(r"wall time:( +)[0-9.]+ s", r"wall time:\1<t> s", line)


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line; `…` in the README stands for any number of lines left out."""
    pattern = "".join(r"(?:.*\n)*?" if e.strip() == "…" else re.escape(e) + r"\n" for e in expected)
    trailing = r"(?:.*\n)*" if expected and expected[-1].strip() == "…" else ""
    return re.fullmatch(pattern + trailing, "".join(a + "\n" for a in actual)) is not None


def test_the_readme_console_examples_are_true(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    examples = console_examples()
    assert len(examples) >= 3
    (tmp_path / "sample_logs").symlink_to(SAMPLES)
    monkeypatch.chdir(tmp_path)
    for command, expected in examples:
        argv = shlex.split(command.split("  #")[0])
        assert argv[0] == "realtrace"
        r = CliRunner().invoke(main, argv[1:])
        actual = [normalise(x, tmp_path) for x in r.stdout.splitlines()]
        want = [normalise(x, tmp_path) for x in expected]
        assert matches(want, actual), f"$ {command}\n" + "\n".join(actual)


def test_the_readme_tables_are_generated_from_the_code() -> None:
    assert render(README) == README, "README.md is out of date: run python scripts/gen_docs.py"
    assert render(REFERENCE) == REFERENCE, "docs/reference.md is out of date: run gen_docs.py"


def test_the_readme_is_a_guide_and_its_links_lead_somewhere() -> None:
    """A few screens (it was 45 kB of guide and measurements mixed); every relative link
    names a file of the checkout."""
    assert len(README) < 16_000
    for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README):
        assert (ROOT / link).exists(), link


def test_the_table_guard_fails_on_a_wrong_line() -> None:
    wrong = README.replace("| 4 | nothing to do", "| 4 | everything is fine")
    assert wrong != README and render(wrong) != wrong


def test_the_readme_app_record_example_makes_an_app_span(tmp_path: Path) -> None:
    """The README's Python snippet, run as written next to a session's Realtime events."""
    import json
    import time

    from conftest import traces

    from pipeline.config import RunConfig
    from pipeline.run import run_convert

    (snippet,) = re.findall(r"```python\n(.*?)```", README, re.S)
    log_path = tmp_path / "app.jsonl"
    now = time.time_ns()
    events = [
        {"type": "session.created", "session": {"id": "s1", "model": "gpt-realtime"}},
        {"type": "input_audio_buffer.speech_started", "item_id": "i1"},
        {"type": "input_audio_buffer.speech_stopped", "item_id": "i1"},
    ]
    with log_path.open("w") as log:
        for i, ev in enumerate(events):
            log.write(
                json.dumps({"timestamp": now - 10**9 + i * 10**8, "session_id": "s1", "event": ev})
                + "\n"
            )
        exec(
            snippet,
            {"log": log, "session_id": "s1", "q": "weather in Paris", "docs": [{"id": "d1"}]},
        )
        rest = [
            {"type": "response.created", "response": {"id": "r1"}},
            {"type": "response.done", "response": {"id": "r1", "status": "completed"}},
            {"type": "app.session_end"},
        ]  # fmt: skip: the call is over, no --settle wait
        for i, ev in enumerate(rest):
            log.write(
                json.dumps(
                    {"timestamp": time.time_ns() + (i + 1) * 10**8, "session_id": "s1", "event": ev}
                )
                + "\n"
            )
    out = tmp_path / "t.jsonl"
    assert run_convert(RunConfig.to_file(inputs=(str(log_path),), output=out)).exit_code == 0
    t = traces(out)["s1"]
    (rag,) = t.kind("app")
    assert rag["name"] == "rag_retrieval" and t.parent(rag)["_a"]["realtrace.kind"] == "turn"
    assert t.json_attr(rag, "braintrust.output_json") == [{"id": "d1"}]
    assert t.json_attr(rag, "braintrust.metadata") == {"retrieval_method": "hybrid"}


def test_convert_help_names_every_exit_code() -> None:
    from pipeline.errors import ExitCode

    text = " ".join(CliRunner().invoke(main, ["convert", "--help"]).stdout.split())
    sentence = text.split("Exit codes:")[1].split("Options:")[0]
    for code in ExitCode:
        assert re.search(rf"(?<![0-9]){int(code)}(?![0-9])", sentence), code
