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
