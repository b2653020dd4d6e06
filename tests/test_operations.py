"""The edges of real operations (issue 34): corporate CA bundles, ..."""

from __future__ import annotations

import ssl
from pathlib import Path

from click.testing import CliRunner
from conftest import SAMPLES
from receivers import HttpReceiver, make_tls

from pipeline.cli import main


def system_bundle() -> str:
    paths = ssl.get_default_verify_paths()
    return paths.cafile or paths.openssl_cafile


def test_the_otel_certificate_wins_over_requests_ca_bundle(tmp_path: Path) -> None:
    """Corporate images set REQUESTS_CA_BUNDLE (the system's bundle here): `requests` lets it
    override a session's `verify`, so the receiver's own CA, named by the OTel variable, was
    ignored. A real TLS receiver whose CA nothing else trusts."""
    ca, cert, key = make_tls(tmp_path)
    rec = HttpReceiver(tls=(str(cert), str(key)))
    try:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": rec.endpoint,
            "REQUESTS_CA_BUNDLE": system_bundle(),
            "CURL_CA_BUNDLE": system_bundle(),
        }
        args = ["convert", "-i", str(SAMPLES), "--no-state", "-o", str(tmp_path / "t.jsonl")]
        # without the OTel variable: the system's bundle does not trust this CA, said so
        r = CliRunner().invoke(main, args, env=env)
        assert r.exit_code != 0 and "not trusted" in r.output, r.output
        assert not rec.spans
        env["OTEL_EXPORTER_OTLP_CERTIFICATE"] = str(ca)
        r = CliRunner().invoke(main, [*args, "--print-config"], env=env)
        shown = {line.split()[0]: line.split(None, 1)[1] for line in r.output.splitlines()}
        assert shown["certificate"] == f"{ca}  (env OTEL_EXPORTER_OTLP_CERTIFICATE)"
        r = CliRunner().invoke(main, args, env=env)
        assert r.exit_code == 0, r.output
        assert len(rec.spans) == 98
    finally:
        rec.stop()


def test_the_report_counts_the_latest_copy_of_a_trace_written_twice(tmp_path: Path) -> None:
    """`--full` appends every session again to the file destination: the report showed
    0 sessions (exit 4) for a file whose every trace had two roots."""
    out = tmp_path / "t.jsonl"
    args = ["convert", "-i", str(SAMPLES), "-o", str(out), "--state", str(tmp_path / "s.db")]
    assert CliRunner().invoke(main, args).exit_code == 0
    once = out.read_bytes()
    assert CliRunner().invoke(main, [*args, "--full"]).exit_code == 0
    assert out.stat().st_size > len(once)  # both copies are in the file
    page = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["report", "-i", str(out), "--json", str(page)])
    assert r.exit_code == 0, r.output
    assert "9 sessions" in r.output and "9 older copies of traces written again" in r.output
    (tmp_path / "once.jsonl").write_bytes(once)
    single = tmp_path / "single.json"
    r1 = CliRunner().invoke(
        main, ["report", "-i", str(tmp_path / "once.jsonl"), "--json", str(single)]
    )
    assert r1.exit_code == 0 and "older" not in r1.output
    assert page.read_text() == single.read_text()  # the same report as from one copy
