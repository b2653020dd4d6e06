"""The voice-quality report (`realtrace report`, `convert --html`): its numbers, and the page
in a real browser (Debian's chromium driven by Playwright; skipped, saying why, where no
browser can run). Screenshots go to the test's folder, and to docs/ for the README with
REALTRACE_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import REAL_LOGS, SAMPLES, read_spans
from receivers import HttpReceiver

from pipeline.cli import main
from pipeline.config import RunConfig
from pipeline.dashboard.data import to_json
from pipeline.run import report_from_inputs, run_convert

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parent.parent / "docs"


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install '.[test]')"
    if not Path(CHROMIUM).exists():
        return "no chromium (apt-get install -y chromium; .ci/run installs it)"
    return None


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The report of the samples and of the real logs: their traces, pages and JSON."""
    out = tmp_path_factory.mktemp("report")
    made: dict[str, Path] = {}
    for name, src in (("samples", SAMPLES), ("real", REAL_LOGS)):
        if not src.is_dir():
            continue
        traces = out / f"{name}.jsonl"
        assert run_convert(RunConfig.to_file(inputs=(str(src),), output=traces)).exit_code == 0
        page, doc = out / f"{name}.html", out / f"{name}.json"
        r = CliRunner().invoke(
            main, ["report", "-i", str(traces), "--html", str(page), "--json", str(doc)]
        )
        assert r.exit_code == 0, r.output
        made[name], made[f"{name}.json"], made[f"{name}.traces"] = page, doc, traces
    return made


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    why = _browser_missing()
    if why:
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


def open_page(browser: Any, path: Path) -> tuple[Any, list[str], list[str]]:
    """The page loaded and drawn; the console errors and every request it made."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    return page, errors, requests


@pytest.mark.parametrize("name", ["samples", "real"])
def test_the_page_loads_offline_and_shows_the_reports_numbers(
    browser: Any, pages: dict[str, Path], name: str, tmp_path: Path
) -> None:
    if name not in pages:
        pytest.skip("../shared/real-logs is not beside this checkout")
    page, errors, requests = open_page(browser, pages[name])
    assert errors == []
    assert requests == [pages[name].as_uri()]  # nothing but the file itself: no network
    summary = json.loads(pages[f"{name}.json"].read_text())["summary"]
    for key in (
        "sessions",
        "turns",
        "responses",
        "tokens",
        "prompt_cached_tokens",
        "errors",
        "interrupted_responses",
        "cancelled_responses",
        "false_starts",
        "sessions_incomplete",
    ):
        shown = page.inner_text(f"[data-k='{key}']").replace(",", "")
        assert int(shown) == summary[key], key
    spans = read_spans(pages[f"{name}.traces"])
    roots = [s for s in spans if not s.get("parentSpanId")]
    assert summary["sessions"] == len(roots)
    assert page.locator("#sessions tbody tr").count() == len(roots)
    # a session's waterfall: one bar per span of its trace
    last = page.locator("#sessions tbody tr").nth(len(roots) - 1)
    key = last.locator("td").first.inner_text().removesuffix(" (incomplete)")
    last.click()
    (root,) = [r for r in roots if r["_a"]["realtrace.session_key"] == key]
    in_trace = [s for s in spans if s["traceId"] == root["traceId"]]
    assert page.locator("#waterfall rect.span").count() == len(in_trace)
    page.locator("#summary").screenshot(path=str(tmp_path / f"{name}-summary.png"))
    page.locator("#waterfall").screenshot(path=str(tmp_path / f"{name}-waterfall.png"))
    if name == "samples" and os.environ.get("REALTRACE_UPDATE_SCREENSHOTS"):
        page.locator("#sessions tbody tr").nth(1).click()  # a session with a tool call
        page.screenshot(path=str(DOCS / "report.png"), full_page=True)
    page.close()


def test_clicking_a_header_sorts_the_sessions(browser: Any, pages: dict[str, Path]) -> None:
    page, _, _ = open_page(browser, pages["samples"])
    col = [th.inner_text() for th in page.locator("#sessions thead th").all()].index(
        "p95 latency s"
    )

    def column() -> list[float]:
        cells = page.locator(f"#sessions tbody tr td:nth-child({col + 1})").all_inner_texts()
        return [float(c) if c != "–" else float("inf") for c in cells]

    page.click("#sessions thead th[data-col='p95_s']")
    first = column()
    assert first == sorted(first, reverse=True) and first != sorted(first)
    page.click("#sessions thead th[data-col='p95_s']")
    again = [v for v in column() if v != float("inf")]
    assert again == sorted(again)
    page.fill("#filter", "u_2077")
    assert page.locator("#sessions tbody tr").count() == 1
    page.close()


def test_convert_html_over_otlp_is_the_report_of_the_file_output(tmp_path: Path) -> None:
    """The page `convert --html` writes while sending to a real receiver (spans decoded from
    the protobuf sent) equals the report of the same sessions written to a file."""
    receiver = HttpReceiver()
    try:
        page = tmp_path / "sent.html"
        r = CliRunner().invoke(
            main,
            ["convert", "-i", str(SAMPLES), "--endpoint", receiver.endpoint, "--no-state",
             "--html", str(page), "-q"],
        )  # fmt: skip
        assert r.exit_code == 0, r.output
    finally:
        receiver.stop()
    out = tmp_path / "t.jsonl"
    run_convert(RunConfig.to_file(inputs=(str(SAMPLES),), output=out))
    from_file = report_from_inputs([str(out)])
    from_logs = report_from_inputs([str(SAMPLES)])
    assert to_json(from_file) == to_json(from_logs)
    data = page.read_text().split('<script type="application/json" id="data">')[1]
    shown = json.loads(data.split("</script>")[0])
    assert shown == json.loads(json.dumps(to_json(from_file)))
    assert oct(page.stat().st_mode & 0o777) == "0o600"  # it holds transcripts


@pytest.mark.parametrize(
    ("conventions", "audio"),
    [(("braintrust",), "none"), (("genai",), "dir"), (("braintrust", "genai"), "inline")],
)
def test_a_typed_span_views_as_its_otlp_json_does(
    tmp_path: Path, conventions: tuple[str, ...], audio: str
) -> None:
    """The report's view of a typed span record (`span_view`, what `convert --html` and
    `report` on logs read) equals `slim` of the record's OTLP/JSON (what `report` on a traces
    file reads), on every span of the samples and the real logs, in each convention."""
    import orjson

    from pipeline.core.attributes import MappingOptions
    from pipeline.core.convert import convert_frame
    from pipeline.dashboard.data import slim, span_view
    from pipeline.encode import span_json
    from pipeline.inspection import load_sessions
    from pipeline.read.files import find_inputs

    files = find_inputs([str(SAMPLES), *([str(REAL_LOGS)] if REAL_LOGS.is_dir() else [])])[0]
    frame, _, _ = load_sessions(files)
    options = MappingOptions(conventions=conventions, audio=audio)  # type: ignore[arg-type]
    spans = 0
    for sess in convert_frame(frame, options, encode=span_json, report=list):
        records = sess.report_part
        assert isinstance(records, list) and len(records) == len(sess.spans)
        for record, encoded in zip(records, sess.spans, strict=True):
            assert span_view(record) == slim(orjson.loads(encoded))
            spans += 1
    assert spans > 150


def test_the_run_reports_from_typed_records_in_its_workers(tmp_path: Path) -> None:
    """A run whose destination encodes nothing (`report` on logs) still makes the whole
    report: each session's part is made from its typed records in the worker process that
    converted it, and equals the report of the same sessions read back from a file."""
    from pipeline.dashboard import SessionCollector
    from pipeline.send.destination import NoDestination

    out = tmp_path / "t.jsonl"
    run_convert(RunConfig.to_file(inputs=(str(SAMPLES),), output=out))
    collector = SessionCollector()
    cfg = RunConfig((str(SAMPLES),), NoDestination(), tmp_path / "r", workers=2, settle_ns=0)
    result = run_convert(cfg, collector=collector)
    assert result.exit_code == 0 and result.stats.spans_delivered == result.stats.spans > 0
    assert not (tmp_path / "r").exists()  # nothing written
    typed = to_json(collector.data())
    assert typed == to_json(report_from_inputs([str(out)]))
    assert len(typed["sessions"]["key"]) == 9


def test_a_report_part_that_fails_never_fails_a_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in making a session's report part costs the report, never the delivery: to a
    file the page falls back on the spans written; with nothing written the session is
    counted out of the report, and the run says so."""
    from pipeline.dashboard import SessionCollector
    from pipeline.send.destination import NoDestination

    def broken(records: object) -> object:
        raise ZeroDivisionError("a report bug")

    monkeypatch.setattr(SessionCollector, "part", staticmethod(broken))
    out, page = tmp_path / "t.jsonl", tmp_path / "p.html"
    result = run_convert(RunConfig.to_file((str(SAMPLES),), out, html=page, settle_ns=0))
    assert result.exit_code == 0 and result.stats.sessions_failed == 0
    data = page.read_text().split('<script type="application/json" id="data">')[1]
    assert json.loads(data.split("</script>")[0]) == json.loads(
        json.dumps(to_json(report_from_inputs([str(out)])))
    )
    collector = SessionCollector()
    cfg = RunConfig((str(SAMPLES),), NoDestination(), tmp_path / "r", settle_ns=0)
    assert run_convert(cfg, collector=collector).exit_code == 0
    assert collector.left_out == 9 and not collector.data().sessions
    assert "9 converted sessions are not in the report" in caplog.text


def test_the_report_counts_what_the_traces_say(pages: dict[str, Path]) -> None:
    doc = json.loads(pages["samples.json"].read_text())
    s = doc["summary"]
    spans = read_spans(pages["samples.traces"])
    llm = [x for x in spans if x["_a"]["realtrace.kind"] in ("response", "transcription")]
    tokens = sum(json.loads(x["_a"].get("braintrust.metrics", "{}")).get("tokens", 0) for x in llm)
    assert s["tokens"] == tokens and s["responses"] == 26
    assert s["interrupted_responses"] == 1 and s["cancelled_responses"] == 1
    assert s["voice_to_voice_latency"]["p50"] <= s["voice_to_voice_latency"]["p95"]
    assert s["first_event_ns"] == min(int(x["startTimeUnixNano"]) for x in spans)
    (app,) = [row for row in doc["sessions"] if row["user_id"] == "u_2077"]
    assert app["errors"] == 1 and app["turns"] == 2


def test_report_errors_are_one_line(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["report", "-i", str(SAMPLES)])
    assert r.exit_code == 2 and "--html" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["report", "-i", str(SAMPLES), "--html", str(tmp_path)])
    assert r.exit_code == 2 and "is a directory" in r.output
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "nothing.jsonl").write_text("")
    r = CliRunner().invoke(main, ["report", "-i", str(empty), "--html", str(tmp_path / "p.html")])
    assert r.exit_code in (2, 4) and "Traceback" not in r.output


@pytest.mark.parametrize("attributes", ["braintrust", "genai"])
def test_the_turns_audio_plays_in_the_page(browser: Any, tmp_path: Path, attributes: str) -> None:
    """`convert --audio dir: --html`: each turn's WAV is a player beside the waterfall, linked
    relative to the page, and Chromium decodes it (its duration is the clip's), whichever
    convention the spans are written in (under genai the page showed 0 players)."""
    import wave

    page_path, wavs = tmp_path / "report.html", tmp_path / "wav"
    voice = SAMPLES / "2025-11-24" / "voice_ga.jsonl"
    r = CliRunner().invoke(
        main,
        ["convert", "-i", str(voice), "-o", str(tmp_path / "t.jsonl"), "--no-state",
         "--audio", f"dir:{wavs}", "--html", str(page_path), "-q", "--attributes", attributes],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    page, errors, requests = open_page(browser, page_path)
    players = page.locator("#players audio")
    assert players.count() == len(list(wavs.rglob("*.wav"))) == 7
    assert requests == [page_path.as_uri()]  # preload none: nothing fetched until asked
    src = players.first.get_attribute("src")
    assert src is not None and src.startswith("wav/")
    seconds = page.evaluate(
        """() => new Promise((ok, fail) => { const a = document.querySelector('#players audio');
             a.onloadedmetadata = () => ok(a.duration); a.onerror = () => fail(a.error.code);
             a.preload = 'auto'; a.load(); })"""
    )
    with wave.open(str(tmp_path / src)) as w:
        assert seconds == pytest.approx(w.getnframes() / w.getframerate(), abs=0.01)
    assert errors == []
    page.close()


def test_hostile_ids_and_link_templates_cannot_blank_the_page_or_run_code(
    browser: Any, tmp_path: Path
) -> None:
    """`<!--<script>` in a session id switched the HTML parser into a script state that the
    page's own script never left (0 rows); a `javascript:` link template ran code on a click."""
    logs = tmp_path / "logs"
    logs.mkdir()
    text = (SAMPLES / "2025-11-24" / "voice_ga.jsonl").read_text()
    hostile = "<!--<script>x</script><img src=x onerror=alert(1)>"
    (logs / "a.jsonl").write_text(text.replace("sess_dda1494c73cf256d0001", hostile))
    (logs / "b.jsonl").write_text((SAMPLES / "2025-11-24" / "errors_ga.jsonl").read_text())
    traces = tmp_path / "t.jsonl"
    assert run_convert(RunConfig.to_file(inputs=(str(logs),), output=traces)).exit_code == 0
    page_path = tmp_path / "r.html"
    report = ["report", "-i", str(traces), "--html", str(page_path), "--trace-url"]
    bad = CliRunner().invoke(main, [*report, "javascript:alert(1)//{trace_id}"])
    assert bad.exit_code == 2 and "http(s) URL" in bad.output and not page_path.exists()
    r = CliRunner().invoke(main, [*report, "https://bt.example/{session_key}"])
    assert r.exit_code == 0, r.output
    dialogs: list[str] = []
    page, errors, _ = open_page(browser, page_path)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    rows = page.locator("#sessions tbody tr[data-i]")
    assert rows.count() == 2  # both sessions listed, the hostile one included
    assert hostile in page.locator("#sessions tbody").inner_text()  # shown as text
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    assert hrefs and all(h.startswith("https://bt.example/") for h in hrefs)
    page.wait_for_timeout(200)
    assert dialogs == [] and errors == [], (dialogs, errors)
    page.close()


def test_the_split_table_groups_by_dimension_and_leaves_tool_rows_response_cells_empty(
    browser: Any, pages: dict[str, Path]
) -> None:
    """Issue 39: model rows and tool rows were mixed in no clear order, and the tool groups
    showed `responses 0` (a response is not a turn)."""
    page, errors, _ = open_page(browser, pages["samples"])
    rows = page.eval_on_selector_all(
        "#splits tbody tr",
        "trs => trs.map(tr => [tr.className, [...tr.children].map(c => c.textContent)])",
    )
    groups = [cells[0] for cls, cells in rows if cls == "group"]
    assert groups == ["by model", "by tool use (turns)"]
    at_tools = next(i for i, (cls, cells) in enumerate(rows) if cells[0] == "by tool use (turns)")
    models = [cells for cls, cells in rows[1:at_tools]]
    assert models and [m[0] for m in models] == sorted(m[0] for m in models)
    for _, cells in rows[at_tools + 1 :]:
        assert cells[0].startswith("turns ") and cells[6:] == ["—", "—", "—"]
    assert errors == []
    page.close()


@pytest.mark.parametrize("width", [1400, 800])
def test_labels_fit_and_nothing_overflows_at_any_width(
    browser: Any, pages: dict[str, Path], width: int
) -> None:
    """Issue 39: the last tick label of each histogram was clipped, the charts filled about
    70% of their cards, the percentile labels stacked on their dashed lines, the waterfall's
    end label was clipped, and at 800 px the tables and waterfall overflowed the page."""
    page = browser.new_page(viewport={"width": width, "height": 1000})
    page.goto(pages["samples"].as_uri())
    page.wait_for_selector("body[data-ready='1']")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    out = page.evaluate(
        """() => [...document.querySelectorAll('svg')].flatMap(svg => {
             const box = svg.getBoundingClientRect();
             return [...svg.querySelectorAll('text')].filter(t => {
               const r = t.getBoundingClientRect();
               return r.left < box.left - 0.5 || r.right > box.right + 0.5;
             }).map(t => t.textContent); })"""
    )
    assert out == []  # every label inside its chart
    fill = page.evaluate(
        """() => [...document.querySelectorAll('.chart svg')].map(s =>
             s.getBoundingClientRect().width / s.parentElement.getBoundingClientRect().width)"""
    )
    assert fill and min(fill) > 0.9
    legends = page.evaluate(
        """() => [...document.querySelectorAll('.chart svg')].map(svg => {
             const t = svg.querySelector('text.plegend').getBoundingClientRect();
             const plot = [...svg.querySelectorAll('line.pmark')].map(l => l.getBoundingClientRect().top);
             return t.bottom <= Math.min(...plot); })"""
    )
    assert legends and all(legends)  # the percentiles above the plot, not on its lines
    page.close()


def test_the_page_says_how_many_responses_start_outside_the_log(
    browser: Any, pages: dict[str, Path]
) -> None:
    """A card, shown only when some response's start is not in the logs (§7)."""
    if "real" not in pages:
        pytest.skip("../shared/real-logs is not beside this checkout")
    shown = {}
    for name in ("samples", "real"):
        page, errors, _ = open_page(browser, pages[name])
        card = page.locator("[data-k=responses_start_not_logged]")
        shown[name] = card.inner_text() if card.count() else None
        assert errors == []
        page.close()
    assert shown == {"samples": None, "real": "4"}


@pytest.fixture(scope="module")
def long_call(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    """The report of one generated 45-minute call (~510 turns, ~2,000 spans) with a player
    for each turn's two clips (their files absent: players load nothing until asked)."""
    from gen_logs import write_long_call

    out = tmp_path_factory.mktemp("long")
    logs = write_long_call(out / "logs", 45, seed=3, audio_payloads=False)
    data = report_from_inputs([str(logs)])
    (key,) = [r.key for r in data.sessions]
    turns = data.sessions[0].turns
    clips = [(n, who) for n in range(1, turns + 1) for who in ("user", "assistant")]
    data.audio = {key: {f"turn {n} {who}": f"wav/{n}-{who}.wav" for n, who in clips}}
    page = out / "long.html"
    from pipeline.dashboard import write_html

    write_html(data, page)
    return page, len(data.waterfalls[0]), turns


def test_a_long_call_opens_in_one_screen_and_zooms_to_a_ten_second_window(
    browser: Any, long_call: tuple[Path, int, int], tmp_path: Path
) -> None:
    """Issue 39: a 45-minute call made a 70,000-pixel page of sliver-thin bars. Its view now
    opens with its turns closed, draws only the rows in view and a capped list of players,
    and the wheel over the time axis zooms to a 10-second window whose bars are readable."""
    path, spans, turns = long_call
    assert spans > 1900 and turns > 500
    page, errors, requests = open_page(browser, path)  # how fast: bench.py --report-sessions
    assert page.locator("#waterfall text.toggle").count() < 60  # rows in view, not 2,000
    assert page.locator("#waterfall rect.span").count() < 60
    assert page.locator("#players audio").count() == 24
    assert "more clips in this window" in page.inner_text("#players")
    wrap = page.locator("#wf-wrap").bounding_box()
    assert wrap is not None and wrap["height"] < 700  # one screen, not 70,000 px
    page.locator("#wf-wrap").screenshot(path=str(tmp_path / "long-fit.png"))
    # the wheel over the axis, in steps, until the window is 10 s or less
    page.evaluate("() => document.getElementById('wf-tools').scrollIntoView()")
    window = page.evaluate("() => ({...document.getElementById('wf-window').dataset})")
    for _ in range(60):
        if int(window["t1"]) - int(window["t0"]) <= 10_000:
            break
        # (the players' list below shrinks as the window does: the axis may move up)
        axis = page.locator("#wf-axis").bounding_box()
        assert axis is not None
        page.mouse.move(axis["x"] + axis["width"] * 0.6, axis["y"] + 8)
        page.mouse.wheel(0, -250)  # halves the window
        page.wait_for_function(
            "w => document.getElementById('wf-window').dataset.t1 !== w", arg=window["t1"]
        )
        window = page.evaluate("() => ({...document.getElementById('wf-window').dataset})")
    t0, t1 = int(window["t0"]), int(window["t1"])
    assert 5_000 < t1 - t0 <= 10_000
    page.wait_for_timeout(50)
    bars = page.evaluate(
        """() => [...document.querySelectorAll('#waterfall rect.span')].map(r => {
             const b = r.getBoundingClientRect(), box = document.getElementById('wf-scroll').getBoundingClientRect();
             return {w: b.width, kind: r.dataset.kind, seen: b.bottom > box.top && b.top < box.bottom}; })"""
    )
    seen = [b for b in bars if b["seen"] and b["kind"] != "session"]
    # the rows followed the window: the turns in it are open and in view, bars tens of px wide
    assert {"turn", "user_input", "response"} <= {b["kind"] for b in seen}
    assert max(b["w"] for b in seen) > 200
    assert page.locator("#players audio").count() <= 8  # the clips of the turns in view
    page.locator("#wf-wrap").screenshot(path=str(tmp_path / "long-10s.png"))
    # dragging the spans pans: 100 px to the left moves the window later by 100 px of time
    plot = page.locator("#wf-scroll").bounding_box()
    assert plot is not None
    per_px = (t1 - t0) / (plot["width"] - 230 - 10)
    page.mouse.move(plot["x"] + 700, plot["y"] + 100)
    page.mouse.down()
    page.mouse.move(plot["x"] + 600, plot["y"] + 100, steps=4)
    page.mouse.up()
    page.wait_for_function(
        "t => document.getElementById('wf-window').dataset.t0 !== t", arg=str(t0)
    )
    moved = int(page.evaluate("() => document.getElementById('wf-window').dataset.t0")) - t0
    assert moved == pytest.approx(100 * per_px, abs=per_px * 2)
    # Fit: the whole call again
    page.locator("#wf-tools button[data-act='fit']").click()
    page.wait_for_function("() => document.getElementById('wf-window').dataset.t0 === '0'")
    assert requests == [path.as_uri()] and errors == []
    page.close()


def test_a_turn_opens_and_closes_from_its_row(
    browser: Any, long_call: tuple[Path, int, int]
) -> None:
    """A long call's turns are one row each until opened: ▸ opens a turn's spans, ▾ closes them."""
    page, errors, _ = open_page(browser, long_call[0])
    count = lambda: page.locator("#waterfall rect.span").count()  # noqa: E731
    before = page.inner_text("#wf-window")
    page.locator("#waterfall text.toggle").first.click()
    page.wait_for_function(
        "b => document.getElementById('wf-window').textContent !== b", arg=before
    )
    assert (page.locator("#waterfall text.toggle").first.text_content() or "")[0] == "▾"
    opened = page.inner_text("#wf-window")
    assert int(opened.split("·")[1].split()[0]) > int(before.split("·")[1].split()[0])
    drawn = count()
    page.locator("#waterfall text.toggle").first.click()
    page.wait_for_function(
        "b => document.getElementById('wf-window').textContent !== b", arg=opened
    )
    assert page.inner_text("#wf-window") == before and count() <= drawn
    assert errors == []
    page.close()


def test_the_conversation_lane_marks_overlap_silence_and_the_barge_in(
    browser: Any, tmp_path: Path
) -> None:
    """Issue 37: the session view's lane puts the caller's speech and the assistant's audio on
    the waterfall's time axis; the overlap box spans exactly the overlap's pixels (14.5 → 14.8
    s in test_dynamics' call), silences are marked, and the barge-in's ▼ is where the agent
    stopped. The dynamics' distributions and the table's columns show the same figures."""
    from test_dynamics import _call

    logs, page_path = tmp_path / "logs", tmp_path / "report.html"
    logs.mkdir()
    (logs / "call.jsonl").write_text("".join(json.dumps(e) + "\n" for e in _call(appends=True)))
    r = CliRunner().invoke(
        main,
        ["convert", "-i", str(logs), "-o", str(tmp_path / "t.jsonl"), "--no-state",
         "--html", str(page_path), "-q"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    page, errors, _ = open_page(browser, page_path)

    def box(selector: str) -> list[tuple[float, float]]:
        return [
            (b["x"], b["x"] + b["width"])
            for b in page.eval_on_selector_all(
                selector, "els => els.map(e => e.getBoundingClientRect().toJSON())"
            )
        ]

    speech, heard = box("#lane rect.speech"), box("#lane rect.heard")
    (overlap,) = box("#lane rect.overlap")
    assert len(speech) == 3 and len(heard) == 3
    assert overlap[0] == pytest.approx(speech[2][0], abs=1)  # the caller began at 14.5 s
    assert overlap[1] == pytest.approx(heard[1][1], abs=1)  # the agent was heard to 14.8 s
    (barge,) = box("#lane path.barge")
    assert (barge[0] + barge[1]) / 2 == pytest.approx(heard[1][1], abs=1)
    silences = box("#lane rect.silence")
    assert len(silences) == 4 and silences[0][0] == pytest.approx(speech[0][1], abs=1)
    # the distributions: one point per turn, as test_dynamics works them out
    doc = page.evaluate("() => D.dynamics")
    assert doc["end_of_turn_delay"]["s"] == [0.55, 0.5, 0.5]
    assert doc["barge_in_stop_time"]["s"] == [0.3]
    cells = page.locator("#sessions tbody tr").first.locator("td").all_inner_texts()
    assert cells[-3:] == ["0.3", "4.9", "0.478"]  # overlap s, longest silence s, talk ratio
    page.locator("#wf-wrap").screenshot(path=str(tmp_path / "lane.png"))
    if os.environ.get("REALTRACE_UPDATE_SCREENSHOTS"):
        page.locator("#wf-wrap").screenshot(path=str(DOCS / "screenshots" / "lane.png"))
    assert errors == []
    page.close()
