"""Braintrust as its own SDKs reach it: the login at the app host, the organization by name,
the API at BRAINTRUST_API_URL or the organization's, attachment keys that are UUIDs, 408/429
retried after their Retry-After.

The stand-in is laid out like the real service: the app (login) and the API (OTLP,
`/attachment`, status, signed URLs) are two receivers on two ports; a test that logged in at
the API host, or sent attachments to the app, fails here. The expected URLs are the Python
SDK's (braintrust 0.48.1, read from its source; each row cites the file and line).
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import SAMPLES, FakeClock
from receivers import HttpReceiver

from pipeline.cli import main
from pipeline.config import RunConfig
from pipeline.resolve import resolve_run
from pipeline.run import run_convert
from pipeline.send.braintrust import choose, login_url

KEY = "sk-test-braintrust-0123456789"
PARENT = "project_name:voice"


@pytest.fixture
def app() -> Any:
    """Braintrust's app host: it answers the login, and nothing else is asked of it."""
    rec = HttpReceiver(path="/no-otlp-here", attachments=True)
    yield rec
    rec.stop()


@pytest.fixture
def api() -> Any:
    """Braintrust's API host: OTLP at /otel/v1/traces, attachments, signed URLs."""
    rec = HttpReceiver(path="/otel/v1/traces", attachments=True)
    yield rec
    rec.stop()


def two_orgs(api: HttpReceiver) -> dict[str, Any]:
    """The login answer of a key that sees two organizations, the second on its own data plane."""
    return {
        "org_info": [
            {"id": "org_first", "name": "first"},
            {"id": "org_voice", "name": "voice-team", "api_url": api.endpoint},
        ]
    }


def config(env: dict[str, str], tmp_path: Path, clock: FakeClock, **flags: Any) -> RunConfig:
    cfg = resolve_run(env, inputs=(str(SAMPLES),), no_state=True, **flags)
    assert cfg.mapping.audio == "upload" and cfg.attachments is not None
    return dataclasses.replace(cfg, destination=dataclasses.replace(cfg.destination, clock=clock))


def kinds(rec: HttpReceiver) -> list[str]:
    return [route for _, route, _ in rec.api_calls]


def test_login_at_the_app_host_then_the_chosen_orgs_api_with_a_429_honoured(
    tmp_path: Path, app: HttpReceiver, api: HttpReceiver
) -> None:
    app.login_answer = two_orgs(api)
    # the first /attachment is throttled: 429 with Retry-After 7 (seconds)
    api.api_script = lambda route, n: (
        (429, {"Retry-After": "7"}) if route == "/attachment" and n == 1 else 200
    )
    env = {
        "BRAINTRUST_API_KEY": KEY,
        "BRAINTRUST_PARENT": PARENT,
        "BRAINTRUST_APP_URL": app.endpoint,
        "BRAINTRUST_ORG_NAME": "voice-team",
    }
    # BRAINTRUST_API_URL unset: attachments go to the organization's api_url; OTLP, which
    # Braintrust's SDK exporter sends without logging in, is given here by --endpoint
    export = {"endpoint": f"{api.endpoint}/otel", "braintrust": True}
    clock = FakeClock()
    result = run_convert(config(env, tmp_path, clock, export=export))
    assert result.exit_code == 0, result.stats.errors
    assert result.stats.audio_uploaded == 26 and result.stats.audio_sessions_inline == 0
    assert result.stats.braintrust_org == "voice-team (of 2 this key sees)"
    # the app host: one login for the whole run, with the key; nothing else
    assert app.api_calls == [("POST", "/api/apikey/login", f"Bearer {KEY}")]
    # the API host: no login; the throttled call again after its Retry-After, then per clip
    # a signed URL, the PUT (without the key), the status
    seq = kinds(api)
    assert "/api/apikey/login" not in seq
    assert seq[:4] == ["/attachment", "/attachment", "/signed", "/attachment/status"]
    assert seq[1:] == ["/attachment", "/signed", "/attachment/status"] * 26
    assert all(auth is None for _, route, auth in api.api_calls if route == "/signed")
    assert clock.waits == [7.0]
    bodies = [doc for route, doc in api.api_bodies if route == "/attachment"]
    assert {b["org_id"] for b in bodies} == {"org_voice"}
    keys = [b["key"] for b in bodies]  # the throttled call, answered 429, is not among them
    for key in keys:  # RFC 4122 name-based UUIDs, written in their canonical form
        u = uuid.UUID(key)
        assert u.version == 5 and u.variant == uuid.RFC_4122 and str(u) == key
    assert len(set(keys)) == 26 and set(api.objects) == set(keys)
    assert set(api.statuses.values()) == {"done"}
    assert api.spans  # the spans reached the API host's OTLP endpoint

    # the same logs converted again (no state): the same keys, so nothing new is stored
    again = run_convert(config(env, tmp_path, FakeClock(), export=export))
    assert again.exit_code == 0
    keys_again = [doc["key"] for route, doc in api.api_bodies if route == "/attachment"][26:]
    assert keys_again == keys


def test_braintrust_api_url_ending_in_otel_is_not_doubled_and_wins_over_the_orgs(
    tmp_path: Path, app: HttpReceiver, api: HttpReceiver
) -> None:
    # the organization names a data plane nobody listens on: BRAINTRUST_API_URL wins
    app.login_answer = {"org_info": [{"id": "o1", "name": "acme", "api_url": "http://127.0.0.1:9"}]}
    env = {
        "BRAINTRUST_API_KEY": KEY,
        "BRAINTRUST_PARENT": PARENT,
        "BRAINTRUST_APP_URL": app.endpoint,
        "BRAINTRUST_API_URL": f"{api.endpoint}/otel/v1/traces/",
    }
    result = run_convert(config(env, tmp_path, FakeClock()))
    assert result.exit_code == 0, result.stats.errors
    assert kinds(app) == ["/api/apikey/login"] and result.stats.audio_uploaded == 26
    assert api.spans and api.headers and all(h["x-bt-parent"] == PARENT for h in api.headers)
    assert result.stats.braintrust_org == ""  # one organization: nothing to say


def cli(env: dict[str, str], tmp_path: Path) -> Any:
    args = ["convert", "-i", str(SAMPLES), "--no-state", "--report", str(tmp_path / "r.json")]
    return CliRunner().invoke(main, args, env=env)


def test_an_org_name_the_key_does_not_see_is_exit_2_naming_those_it_does(
    tmp_path: Path, app: HttpReceiver, api: HttpReceiver
) -> None:
    app.login_answer = two_orgs(api)
    env = {
        "BRAINTRUST_API_KEY": KEY,
        "BRAINTRUST_PARENT": PARENT,
        "BRAINTRUST_APP_URL": app.endpoint,
        "BRAINTRUST_API_URL": api.endpoint,
        "BRAINTRUST_ORG_NAME": "nope",
    }
    r = cli(env, tmp_path)
    assert r.exit_code == 2, r.output
    assert "BRAINTRUST_ORG_NAME 'nope'" in r.output and "(first, voice-team)" in r.output
    assert "Traceback" not in r.output and KEY not in r.output
    assert not api.spans and "/attachment" not in kinds(api)  # nothing read, nothing sent


def test_a_refused_key_at_login_is_exit_2_and_a_dead_login_is_one_failure_for_the_run(
    tmp_path: Path, app: HttpReceiver, api: HttpReceiver
) -> None:
    env = {
        "BRAINTRUST_API_KEY": KEY,
        "BRAINTRUST_PARENT": PARENT,
        "BRAINTRUST_APP_URL": app.endpoint,
        "BRAINTRUST_API_URL": api.endpoint,
    }
    app.api_script = lambda route, n: 401
    r = cli(env, tmp_path)
    assert r.exit_code == 2 and "check BRAINTRUST_API_KEY" in r.output, r.output
    assert len(app.api_calls) == 1 and not api.spans  # a 401 is never retried

    # the login answers 503 every time: tried as the SDKs try (4 times), once for the run;
    # every session's audio goes inline, said in one line
    app.api_calls.clear()
    app.api_script = lambda route, n: 503
    result = run_convert(config(env, tmp_path, clock := FakeClock()))
    assert result.exit_code == 3 and result.stats.audio_sessions_inline == 7
    assert len(app.api_calls) == 4 and clock.waits == [0.5, 1.0, 2.0]
    assert "/attachment" not in kinds(api)
    inline = [e for e in result.stats.errors if "sent inline" in e]
    assert inline == [
        f"audio of 7 sessions sent inline: Braintrust's login failed: POST "
        f"{app.endpoint}/api/apikey/login: HTTP 503"
    ]


# -- the URLs Braintrust's Python SDK would use for the same variables ----------------------
#
# login:        braintrust/env.py:22-28 `resolve_app_url` (BRAINTRUST_APP_URL, default
#               https://www.braintrust.dev) and braintrust/api/auth.py:95 (`RequestTarget.APP`,
#               "/api/apikey/login")
# organization: braintrust/api/auth.py:141-148 `_select_organization` (by name, else the first)
# API URL:      braintrust/api/auth.py:105 (BRAINTRUST_API_URL, else the org's `api_url`); the
#               SDK raises when neither is set, realtrace falls back to https://api.braintrust.dev
# OTLP:         braintrust/otel/__init__.py:248-252 (BRAINTRUST_API_URL or
#               https://api.braintrust.dev, joined with "otel/v1/traces"); the SDK would double
#               a URL that already ends in /otel, realtrace does not (issue 32)

ORGS = {
    "org_info": [
        {"id": "o1", "name": "first"},
        {"id": "o2", "name": "eu-team", "api_url": "https://api-eu.braintrust.dev"},
    ]
}
WWW, API, EU = (
    "https://www.braintrust.dev",
    "https://api.braintrust.dev",
    "https://api-eu.braintrust.dev",
)

SDK_TABLE = [
    # (APP_URL, API_URL, ORG_NAME) → (login URL, org id, attachments API, OTLP traces URL)
    ((None, None, None), (f"{WWW}/api/apikey/login", "o1", API, f"{API}/otel/v1/traces")),
    ((None, None, "eu-team"), (f"{WWW}/api/apikey/login", "o2", EU, f"{API}/otel/v1/traces")),
    ((None, EU, None), (f"{WWW}/api/apikey/login", "o1", EU, f"{EU}/otel/v1/traces")),
    (
        ("https://bt.corp.example/", None, None),
        ("https://bt.corp.example/api/apikey/login", "o1", API, f"{API}/otel/v1/traces"),
    ),
    (
        ("https://bt.corp.example", "https://bt-api.corp.example/otel", "eu-team"),
        (
            "https://bt.corp.example/api/apikey/login",
            "o2",
            "https://bt-api.corp.example",
            "https://bt-api.corp.example/otel/v1/traces",
        ),
    ),
    (
        (None, "https://bt-api.corp.example/otel/v1/traces", None),
        (
            f"{WWW}/api/apikey/login",
            "o1",
            "https://bt-api.corp.example",
            "https://bt-api.corp.example/otel/v1/traces",
        ),
    ),
    (
        (None, "https://bt-api.corp.example/base/", None),
        (
            f"{WWW}/api/apikey/login",
            "o1",
            "https://bt-api.corp.example/base",
            "https://bt-api.corp.example/base/otel/v1/traces",
        ),
    ),
]


@pytest.mark.parametrize(("variables", "expected"), SDK_TABLE)
def test_every_combination_resolves_to_the_sdks_urls(
    variables: tuple[str | None, str | None, str | None], expected: tuple[str, str, str, str]
) -> None:
    names = ("BRAINTRUST_APP_URL", "BRAINTRUST_API_URL", "BRAINTRUST_ORG_NAME")
    env = {"BRAINTRUST_API_KEY": KEY, "BRAINTRUST_PARENT": PARENT}
    env |= {k: v for k, v in zip(names, variables, strict=True) if v is not None}
    cfg = resolve_run(env, inputs=(str(SAMPLES),), no_state=True)
    bt = cfg.attachments
    assert bt is not None and cfg.mapping.audio == "upload"
    login = choose(ORGS, bt.org_name, bt.api_url)
    traces = cfg.destination.export.traces_url  # type: ignore[union-attr]
    assert (login_url(bt.app_url), login.org.id, login.api_url, traces) == expected


def test_a_query_string_in_braintrust_api_url_is_a_one_line_config_error(tmp_path: Path) -> None:
    env = {
        "BRAINTRUST_API_KEY": KEY,
        "BRAINTRUST_PARENT": PARENT,
        "BRAINTRUST_API_URL": "https://user:hunter2@api.example/?token=abc",
    }
    r = cli(env, tmp_path)
    assert r.exit_code == 2 and "BRAINTRUST_API_URL has a query string" in r.output
    assert "hunter2" not in r.output and "abc" not in r.output


def test_config_shows_braintrusts_hosts_and_where_each_came_from() -> None:
    env = {
        "BRAINTRUST_API_KEY": KEY,
        "BRAINTRUST_PARENT": PARENT,
        "BRAINTRUST_APP_URL": "https://bt.corp.example",
    }
    r = CliRunner().invoke(main, ["convert", "-i", str(SAMPLES), "--print-config"], env=env)
    assert r.exit_code == 0, r.output
    lines = {line.split()[0]: line for line in r.output.splitlines() if line.strip()}
    assert "https://bt.corp.example  (env BRAINTRUST_APP_URL)" in lines["braintrust-app-url"]
    assert "(at login)" in lines["braintrust-api-url"]
    assert "organization's api_url" in lines["braintrust-api-url"]
    assert "(the first)" in lines["braintrust-org"]


# -- uploads under faults (issue 35) ---------------------------------------------------------


def upload_env(rec: HttpReceiver) -> dict[str, str]:
    return {
        "BRAINTRUST_API_KEY": KEY,
        "BRAINTRUST_PARENT": PARENT,
        "BRAINTRUST_APP_URL": rec.endpoint,
        "BRAINTRUST_API_URL": rec.endpoint,
    }


def test_a_signed_url_that_redirects_stored_nothing(tmp_path: Path, api: HttpReceiver) -> None:
    """A 302 from the object store was counted as uploaded: 26 references to objects never
    stored. A redirect is a failure: the audio goes inline, the status says error."""
    api.api_script = lambda route, n: (
        (302, {"Location": "http://127.0.0.1:9/x"}) if route == "/signed" else 200
    )
    result = run_convert(config(upload_env(api), tmp_path, FakeClock()))
    assert result.exit_code == 3 and result.stats.audio_uploaded == 0
    assert result.stats.audio_sessions_inline == 7
    assert set(api.statuses.values()) == {"error"} and not api.objects
    assert any("HTTP 302 (a redirect: nothing was stored)" in e for e in result.stats.errors)


def test_uploads_failing_stop_retrying_at_the_runs_budget(
    tmp_path: Path, api: HttpReceiver
) -> None:
    """`/attachment` always 500 with --max-retry-time 5: 60 sessions once took 182 s. The
    uploads share the run's budget: once Braintrust has failed for 5 s, the rest go inline
    at once."""
    api.api_script = lambda route, n: 500 if route == "/attachment" else 200
    clock = FakeClock()
    cfg = config(upload_env(api), tmp_path, clock, export={"max_retry_time": 5.0})
    result = run_convert(cfg)
    assert result.exit_code == 3 and result.stats.audio_sessions_inline == 7
    assert sum(clock.waits) <= 5.0  # waits never past the budget, for the whole run
    attempts = [c for c in api.api_calls if c[1] == "/attachment"]
    assert len(attempts) <= 6  # the circuit opened: the later sessions did not try at all
    assert any("--max-retry-time 5" in e for e in result.stats.errors), result.stats.errors


def test_a_clip_that_grew_gets_a_new_key_and_is_uploaded(tmp_path: Path, api: HttpReceiver) -> None:
    """A call delivered cut off mid-reply gets the rest of its log the next night: the state
    said its keys were uploaded, so the longer clip was never sent. Keys come from the clip's
    content now."""
    src = (SAMPLES / "2025-11-24" / "voice_ga.jsonl").read_text().splitlines(keepends=True)
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "voice.jsonl"
    deltas = [i for i, line in enumerate(src) if "response.output_audio.delta" in line]
    log.write_text("".join(src[: deltas[len(deltas) // 2]]))  # cut mid-reply
    env = upload_env(api)

    def night() -> Any:
        cfg = resolve_run(env, inputs=(str(logs),), state_path=tmp_path / "s.db", settle="0")
        cfg = dataclasses.replace(
            cfg, destination=dataclasses.replace(cfg.destination, clock=FakeClock())
        )
        return run_convert(cfg)

    first = night()
    assert first.exit_code == 0, first.stats.errors
    keys_first = dict(api.objects)
    log.write_text("".join(src))  # the rest of the call, logged since
    second = night()
    assert second.exit_code == 0 and second.stats.sessions_changed == 1, second.stats.errors
    new = {k: v for k, v in api.objects.items() if k not in keys_first}
    assert new  # the grown clip (and any clip that changed) uploaded under a new key
    assert max(len(v) for v in new.values()) > max(len(v) for v in keys_first.values())
    assert second.stats.audio_uploaded == len(new)
    assert second.stats.audio_upload_skipped >= 1  # the clips that did not change: not again


def signal_when(proc: Any, ready: Any, settle: float) -> tuple[float, bytes]:
    """SIGTERM to `proc` once `ready()` holds (then `settle` seconds more): how long it took
    to end after the signal, and its stderr."""
    import signal
    import time

    deadline = time.monotonic() + 30
    while not ready():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(settle)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    return time.monotonic() - sent, err


def test_a_signal_while_a_signed_url_drips_stops_within_two_seconds(
    tmp_path: Path, api: HttpReceiver
) -> None:
    """A signed-URL host answering one byte a second hung the run for good, SIGTERM ignored.
    Each request has --timeout for the whole of it, and the stop is checked around each."""
    import json
    import subprocess
    import sys

    from conftest import ROOT
    from receivers import DripReceiver

    drip = DripReceiver()
    api.sign = lambda key: f"{drip.endpoint}/put/{key}?sig=x"
    try:
        report = tmp_path / "r.json"
        argv = [sys.executable, "-m", "pipeline.cli", "convert", "-i", str(SAMPLES), "--no-state"]
        argv += ["--timeout", "30", "--report", str(report), "-o", str(tmp_path / "t.jsonl")]
        argv += ["--braintrust"]  # -o alone would win over the key
        env = {**__import__("os").environ, **upload_env(api)}
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        took, err = signal_when(proc, lambda: drip.requests >= 1, 0.3)  # a PUT drips
    finally:
        proc.kill()
        drip.stop()
    assert proc.returncode == 143, err
    assert took < 2, took
    assert b"Traceback" not in err
    assert json.loads(report.read_text())["audio_uploaded"] == 0


def test_uploads_are_recorded_as_each_completes_so_kill_9_uploads_nothing_twice(
    tmp_path: Path, api: HttpReceiver
) -> None:
    """After kill -9, the uploads of the run were lost with it (335 PUTs for 220 clips over
    five kills): each is recorded in the state as it completes."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT

    from pipeline.state.store import StateStore

    hang = {"on": True}

    def script(route: str, n: int) -> int:
        if route == "/signed" and n >= 4 and hang["on"]:
            time.sleep(20)  # the fourth PUT never ends: the run is killed meanwhile
        return 200

    api.api_script = script
    state = tmp_path / "s.db"
    argv = [sys.executable, "-m", "pipeline.cli", "convert", "-i", str(SAMPLES), "--braintrust"]
    argv += ["--state", str(state), "-o", str(tmp_path / "t.jsonl"), "-q"]
    env = {**os.environ, **upload_env(api)}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while len([c for c in api.api_calls if c[1] == "/signed"]) < 4:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    with StateStore(state, "", lock=False) as st:
        recorded = {k for (k,) in st.db.execute("SELECT key FROM attachments")}
    assert recorded == set(api.objects) and len(recorded) == 3
    hang["on"] = False
    puts_before = len([c for c in api.api_calls if c[1] == "/signed"])
    r = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    puts = len([c for c in api.api_calls if c[1] == "/signed"]) - puts_before
    assert puts == 26 - 3  # the three recorded are not uploaded again
    assert len(api.objects) == 26


def test_a_signal_during_a_hanging_login_stops_within_two_seconds(
    tmp_path: Path, app: HttpReceiver, api: HttpReceiver
) -> None:
    """A login that never answered kept the run alive 60 s after SIGTERM."""
    import os
    import subprocess
    import sys
    import time

    from conftest import ROOT

    def hang(route: str, n: int) -> int:
        time.sleep(20)
        return 200

    app.api_script = hang
    env = {**os.environ, **upload_env(api), "BRAINTRUST_APP_URL": app.endpoint}
    argv = [sys.executable, "-m", "pipeline.cli", "convert", "-i", str(SAMPLES), "--braintrust"]
    argv += ["--no-state", "-o", str(tmp_path / "t.jsonl")]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        took, err = signal_when(proc, lambda: bool(app.api_calls), 0.2)  # the login hangs
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert took < 2, took
    assert b"Traceback" not in err and not api.spans
