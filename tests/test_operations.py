"""The edges of real operations (issue 34): corporate CA bundles, ..."""

from __future__ import annotations

import json
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


def test_an_unreadable_file_is_named_on_stderr_even_quiet_and_counted_as_a_file(
    tmp_path: Path,
) -> None:
    """A truncated gzip: exit 7 said nothing on stderr naming it (nothing at all with -q),
    and its one reject was counted among the lines."""
    import gzip

    logs = tmp_path / "logs"
    logs.mkdir()
    good = (SAMPLES / "2025-11-24" / "voice_ga.jsonl").read_bytes()
    (logs / "voice.jsonl").write_bytes(good)
    (logs / "cut.jsonl.gz").write_bytes(gzip.compress(good)[:3000])
    args = ["convert", "-i", str(logs), "-o", str(tmp_path / "t.jsonl"), "--no-state"]
    for quiet in ([], ["-q"]):
        r = CliRunner().invoke(main, [*args, *quiet])
        assert r.exit_code == 7, r.output
        lines = [x for x in r.stderr.splitlines() if "cut.jsonl.gz" in x]
        assert lines and "unreadable file" in lines[0] and "readable lines were kept" in lines[0]
    r = CliRunner().invoke(main, args)
    summary = {x.split(":")[0]: x for x in r.stdout.splitlines()}
    assert "1 rejected)" in summary["files read"]
    assert "0 rejected" in summary["lines read"]  # lines: events + rejected + blank


def test_empty_junk_and_truncated_files_are_remembered_not_rejected_every_night(
    tmp_path: Path,
) -> None:
    import gzip

    logs = tmp_path / "logs"
    logs.mkdir()
    good = (SAMPLES / "2025-11-24" / "voice_ga.jsonl").read_bytes()
    (logs / "voice.jsonl").write_bytes(good)
    (logs / "empty.jsonl").write_bytes(b"")
    (logs / "junk.jsonl").write_bytes(b"not json\n\x00\x01garbage\n")
    (logs / "cut.jsonl.gz").write_bytes(gzip.compress(good)[:3000])
    args = ["convert", "-i", str(logs), "-o", str(tmp_path / "t.jsonl")]
    args += ["--state", str(tmp_path / "s.db"), "--report", str(tmp_path / "r.json")]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 7, first.output  # the truncated archive: said once
    rejects = tmp_path / "t.rejects.jsonl"
    assert {json.loads(x)["file"].rsplit("/", 1)[1] for x in rejects.read_text().splitlines()} == {
        "empty.jsonl",
        "junk.jsonl",
        "cut.jsonl.gz",
    }
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 4, second.output  # nothing new: nothing read, nothing rejected
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["files"] == 0 and rep["files_skipped"] == 4 and rep["rejected_lines"] == 0
    assert rejects.read_text() == ""
    (logs / "junk.jsonl").write_bytes(b"still not json\n")  # changed: read (and rejected) again
    third = CliRunner().invoke(main, args)
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["files"] == 1 and rep["rejected_lines"] == 1, third.output


def test_small_edges_each_a_one_line_answer(tmp_path: Path) -> None:
    """grpc to an HTTP port is a configuration error (2), not a failed delivery (3); a 503 at
    first contact says what answered; bad export flags are errors with the file destination
    too; help texts name only their command's options; report's --audio-dir must exist;
    report and inspect take -q/-v."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Busy(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(503)
            self.send_header("content-length", "0")
            self.end_headers()

    http = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    url = f"http://127.0.0.1:{http.server_address[1]}"
    out = ["-o", str(tmp_path / "t.jsonl"), "--no-state"]
    try:
        r = CliRunner().invoke(
            main, ["convert", "-i", str(SAMPLES), *out, "--endpoint", url, "--protocol", "grpc"]
        )
        assert r.exit_code == 2 and "use --protocol http/protobuf" in r.output, r.output
        r = CliRunner().invoke(main, ["convert", "-i", str(SAMPLES), *out, "--endpoint", url])
        assert r.exit_code == 3, r.output
        assert "HTTP 503 Service Unavailable" in r.output
        assert "answered but is not taking requests now" in r.output
        assert "check the port" not in r.output and "port is right" not in r.output
    finally:
        http.shutdown()
        http.server_close()
    base = ["convert", "-i", str(SAMPLES), *out]
    for flags, said in (
        (["--concurrency", "0"], "--concurrency 0: must be at least 1"),
        (["--header", "bad"], "malformed header 'bad'"),
        (["--timeout", "0"], "--timeout 0: must be more than 0"),
    ):
        r = CliRunner().invoke(main, [*base, *flags])
        assert r.exit_code == 2 and said in r.output, (flags, r.output)
    for command in ("replay", "config"):
        text = CliRunner().invoke(main, [command, "--help"]).output
        assert "go to --output" not in text and "spans go to --output" not in text
    page = ["report", "-i", str(SAMPLES), "--html", str(tmp_path / "r.html")]
    r = CliRunner().invoke(main, [*page, "--audio-dir", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "no such folder" in r.output
    r = CliRunner().invoke(main, [*page, "-q"])
    assert r.exit_code == 0 and r.stderr == "", r.stderr
    r = CliRunner().invoke(main, ["inspect", "-i", str(SAMPLES), "-q"])
    assert r.exit_code == 0 and r.stderr == ""
    assert CliRunner().invoke(main, ["inspect", "-i", str(SAMPLES), "-v"]).exit_code == 0


def test_the_half_written_last_line_of_a_live_log_is_held_not_rejected(tmp_path: Path) -> None:
    import os
    import time

    logs = tmp_path / "logs"
    logs.mkdir()
    good = (SAMPLES / "2025-11-24" / "voice_ga.jsonl").read_bytes()
    log = logs / "live.jsonl"
    log.write_bytes(good + b'{"timestamp": "2025-11-24T16:00:0')  # the writer is mid-line
    args = ["convert", "-i", str(logs), "-o", str(tmp_path / "t.jsonl")]
    args += ["--state", str(tmp_path / "s.db"), "--report", str(tmp_path / "r.json")]
    r = CliRunner().invoke(main, [*args, "--strict"])
    rep = json.loads((tmp_path / "r.json").read_text())
    assert r.exit_code == 0, r.output  # not a reject: --strict has nothing to fail on
    assert rep["lines_held"] == 1 and rep["rejected_lines"] == 0
    assert "1 half-written last line held" in r.output
    assert (tmp_path / "t.rejects.jsonl").read_text() == ""
    # the file is not remembered as done: the next run reads it again
    again = CliRunner().invoke(main, args)
    assert json.loads((tmp_path / "r.json").read_text())["files"] == 1, again.output
    # a day later, never finished: the writer is gone, the line is a reject after all
    day_ago = time.time() - 86400
    os.utime(log, (day_ago, day_ago))
    late = CliRunner().invoke(main, args)
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["rejected_lines"] == 1 and rep["lines_held"] == 0, late.output


def test_the_summary_says_why_more_files_were_read_than_announced(tmp_path: Path) -> None:
    """A rotated log: "reading (1 file)", then "files read: 2" with no word of the second."""
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = (SAMPLES / "2025-11-24" / "voice_ga.jsonl").read_text().splitlines(keepends=True)
    (logs / "voice.jsonl").write_text("".join(lines[:100]))
    args = ["convert", "-i", str(logs), "-o", str(tmp_path / "t.jsonl"), "--settle", "0"]
    args += ["--state", str(tmp_path / "s.db"), "--report", str(tmp_path / "r.json")]
    assert CliRunner().invoke(main, args).exit_code == 0
    (logs / "voice.2.jsonl").write_text("".join(lines[100:]))  # the log, rotated
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["files"] == 2 and rep["files_reread"] == 1
    assert "reading 1 more file: unchanged, but holding sessions continued" in r.stderr
    assert "files read:          2 (1 of them unchanged but holding a session" in r.stdout
