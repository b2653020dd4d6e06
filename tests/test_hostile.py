"""Hostile values in logs: what a bad field may not do to the trace (issue 35)."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.attributes import usage_metrics


def test_negative_and_odd_token_counts_are_left_out_never_passed_on() -> None:
    usage = {
        "input_tokens": -5,
        "output_tokens": 20,
        "total_tokens": float("inf"),
        "input_token_details": {"cached_tokens": True, "audio_tokens": "12"},
        "output_token_details": {"audio_tokens": 0},
    }
    assert usage_metrics(usage) == {"completion_tokens": 20, "completion_audio_tokens": 0}


def test_every_header_is_a_secret_unless_known_harmless_and_userinfo_is_masked(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner
    from conftest import SAMPLES

    from pipeline.cli import main

    base = ["convert", "-i", str(SAMPLES), "-o", str(tmp_path / "t.jsonl"), "--print-config"]
    env = {"OTEL_EXPORTER_OTLP_HEADERS": "x-honeycomb-team=hc-secret-1234,cookie=sess=abcd9876"}
    r = CliRunner().invoke(main, [*base, "--endpoint", "https://api.honeycomb.io"], env=env)
    assert r.exit_code == 0, r.output
    assert "hc-secret-1234" not in r.output and "abcd9876" not in r.output
    shown = {" ".join(x.split()[:2]): x for x in r.output.splitlines()}
    assert shown["header x-honeycomb-team"].split()[2] == "***"
    assert shown["header cookie"].split()[2] == "***"
    # plain http to a remote host with any such header is refused, not only x-api-key
    r = CliRunner().invoke(main, [*base, "--endpoint", "http://collector.example:4318"], env=env)
    assert r.exit_code == 2 and "refusing to send credentials in clear text" in r.output
    assert "hc-secret-1234" not in r.output
    # a token or password in a URL's userinfo never shows
    bt = {
        "BRAINTRUST_API_KEY": "sk-abcdef123456",
        "BRAINTRUST_PARENT": "project_name:x",
        "BRAINTRUST_API_URL": "https://tok3n-user:hunter2secret@bt.corp.example",
        "BRAINTRUST_APP_URL": "https://tok3n-user:hunter2secret@app.corp.example",
    }
    r = CliRunner().invoke(main, [*base, "--braintrust"], env=bt)
    assert r.exit_code == 0, r.output
    assert "hunter2secret" not in r.output and "tok3n-user" not in r.output
    assert "https://***@bt.corp.example/otel/v1/traces" in r.output
