"""Hostile values in logs: what a bad field may not do to the trace (issue 35)."""

from __future__ import annotations

from pathlib import Path

from conftest import SAMPLES

from pipeline.core.attributes import usage_metrics

SAMPLES_DIR = SAMPLES / "2025-11-24"


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


def _sessions_named(folder: Path, names: list[str]) -> Path:
    """The voice sample logged once per session id in `names` (one file each)."""
    text = (SAMPLES_DIR / "voice_ga.jsonl").read_text()
    folder.mkdir()
    for i, name in enumerate(names):
        (folder / f"{i}.jsonl").write_text(
            text.replace("sess_dda1494c73cf256d0001", name.replace("\\", "\\\\"))
        )
    return folder


def test_audio_folders_are_confined_and_one_per_session_whatever_the_ids(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pipeline.cli import main

    names = ["..", "acme/call-1", "acme_call-1", "x" * 120 + "/../../etc"]
    logs = _sessions_named(tmp_path / "logs", names)
    audio = tmp_path / "deep" / "audio"
    args = ["convert", "-i", str(logs), "-o", str(tmp_path / "t.jsonl"), "--no-state"]
    r = CliRunner().invoke(main, [*args, "--audio", f"dir:{audio}"])
    assert r.exit_code == 0, r.output
    wavs = sorted(p for p in tmp_path.rglob("*.wav"))
    assert wavs and all(audio in p.parents for p in wavs)  # nothing outside the folder
    folders = {p.parent for p in wavs}
    assert len(folders) == len(names) and all(f.parent == audio for f in folders)
    assert (audio / "acme_call-1").is_dir()  # a plain id keeps its own name
    # the spans name the files where they are, inside the folder
    import re

    refs = set(re.findall(r'([^"\\]*\.wav)', (tmp_path / "t.jsonl").read_text()))
    assert refs and all((audio / ref).resolve() in wavs for ref in refs), refs


def test_nothing_is_written_through_a_planted_symlink_and_folders_are_private(
    tmp_path: Path,
) -> None:
    import os
    import stat

    from click.testing import CliRunner

    from pipeline.cli import main

    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious\n")
    victim.chmod(0o640)
    out = tmp_path / "out" / "deeper"
    out.mkdir(parents=True)
    old = os.umask(0)  # the most permissive umask there is
    try:
        for planted in ("t.jsonl", "t.rejects.jsonl", "r.json", "r.html"):
            link = out / planted
            link.unlink(missing_ok=True)
            link.symlink_to(victim)
            args = ["convert", "-i", str(SAMPLES_DIR), "-o", str(out / "t.jsonl"), "--no-state"]
            args += ["--report", str(out / "r.json"), "--html", str(out / "r.html")]
            r = CliRunner().invoke(main, args)
            assert r.exit_code in (0, 7), (planted, r.output)
            assert "Traceback" not in r.output
            if r.exit_code == 7:
                assert "symbolic link" in r.output, r.output
            assert victim.read_bytes() == b"precious\n", planted
            assert stat.S_IMODE(victim.stat().st_mode) == 0o640, planted
            link.unlink(missing_ok=True)
        fresh = tmp_path / "new" / "dirs"
        args = ["convert", "-i", str(SAMPLES_DIR), "-o", str(fresh / "t.jsonl"), "--no-state"]
        r = CliRunner().invoke(main, [*args, "--audio", f"dir:{tmp_path / 'wavs' / 'x'}"])
        assert r.exit_code == 0, r.output
    finally:
        os.umask(old)
    for folder in (tmp_path / "new", fresh, tmp_path / "wavs", tmp_path / "wavs" / "x"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for f in [*fresh.iterdir(), *(tmp_path / "wavs").rglob("*.wav")]:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_a_state_from_another_version_is_exit_2_before_anything_is_sent(tmp_path: Path) -> None:
    import sqlite3

    from click.testing import CliRunner
    from receivers import HttpReceiver

    from pipeline.cli import main

    rec = HttpReceiver()
    try:
        for case in ("newer", "other layout"):
            state = tmp_path / f"{case}.db"
            db = sqlite3.connect(state)
            if case == "newer":
                db.execute("PRAGMA user_version=7")
            else:
                db.execute("CREATE TABLE sessions (session_key TEXT, sent INTEGER)")
            db.commit()
            db.close()
            args = ["convert", "-i", str(SAMPLES), "-o", str(tmp_path / "t.jsonl")]
            args += ["--endpoint", rec.endpoint, "--state", str(state)]
            r = CliRunner().invoke(main, args)
            assert r.exit_code == 2, (case, r.output)
            assert "move the file away to start over" in r.output and "Traceback" not in r.output
            assert ("state version 7" in r.output) == (case == "newer")
        assert not rec.span_ids  # nothing sent, every night
    finally:
        rec.stop()


def test_one_bad_line_or_file_costs_only_itself(tmp_path: Path) -> None:
    """A line nested ~1,000 deep made its whole file unreadable (none of its sessions sent);
    a Parquet file with a binary `timestamp` column panicked the reader (85-line traceback,
    exit 1, nothing converted). Each is now a reject with its reason, beside sessions that
    arrive whole."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq
    from click.testing import CliRunner

    from pipeline.cli import main

    logs = tmp_path / "logs"
    logs.mkdir()
    good = (SAMPLES_DIR / "voice_ga.jsonl").read_text()
    deep = "[" * 1000 + "]" * 1000
    bad_line = (
        '{"timestamp":"2025-11-24T16:00:01Z","session_id":"sess_dda1494c73cf256d0001",'
        f'"event":{{"type":"conversation.item.added","x":{deep}}}}}\n'
    )
    (logs / "voice.jsonl").write_text(good + bad_line)
    table = pa.table(
        {
            "timestamp": [b"\x00\x01", b"\xff"],
            "session_id": ["p1", "p1"],
            "event": ['{"type":"session.created"}', '{"type":"response.created"}'],
        }
    )
    pq.write_table(table, logs / "binary.parquet")
    (logs / "errors.jsonl").write_text((SAMPLES_DIR / "errors_ga.jsonl").read_text())
    whole = tmp_path / "whole.jsonl"  # the same good logs alone: what must arrive
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "voice.jsonl").write_text(good)
    (alone / "errors.jsonl").write_text((SAMPLES_DIR / "errors_ga.jsonl").read_text())
    base = ["convert", "--no-state", "--report", str(tmp_path / "r.json")]
    assert CliRunner().invoke(main, [*base, "-i", str(alone), "-o", str(whole)]).exit_code == 0
    out = tmp_path / "t.jsonl"
    r = CliRunner().invoke(main, [*base, "-i", str(logs), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output and "panicked" not in r.output
    assert out.read_bytes() == whole.read_bytes()  # every good session, whole
    reasons = {
        (Path(x["file"]).name, x["reason"])
        for x in map(json.loads, (tmp_path / "t.rejects.jsonl").read_text().splitlines())
    }
    assert ("voice.jsonl", "JSON nested too deep (hundreds of levels): not decoded") in reasons
    assert {name for name, _ in reasons} == {"voice.jsonl", "binary.parquet"}


def test_copies_rewrites_and_future_times_each_said_right(tmp_path: Path) -> None:
    """A copy of a delivered log under a new name re-sent its session as changed; a
    same-size rewrite with its mtime put back went unnoticed; sessions timed in 2100 were
    held by --settle forever without a word."""
    import json
    import os

    from click.testing import CliRunner

    from pipeline.cli import main

    logs = tmp_path / "logs"
    logs.mkdir()
    voice = (SAMPLES_DIR / "voice_ga.jsonl").read_bytes()
    (logs / "voice.jsonl").write_bytes(voice)
    args = ["convert", "-i", str(logs), "-o", str(tmp_path / "t.jsonl")]
    args += ["--state", str(tmp_path / "s.db"), "--report", str(tmp_path / "r.json")]

    def night() -> dict:
        r = CliRunner().invoke(main, args)
        assert r.exit_code in (0, 4), r.output
        return json.loads((tmp_path / "r.json").read_text())

    assert night()["sessions_delivered"] == 1
    (logs / "copy.jsonl").write_bytes(voice)  # the same log under another name
    rep = night()
    assert rep["sessions_changed"] == 0 and rep["sessions_skipped"] == 1
    # the middle rewritten, same size, mtime put back: read again, the change found
    st = (logs / "voice.jsonl").stat()
    changed = voice.replace(b"friendly concierge", b"friendly conCIERGE")
    assert len(changed) == len(voice) and st.st_size > 200_000
    (logs / "copy.jsonl").unlink()
    (logs / "voice.jsonl").write_bytes(changed)
    os.utime(logs / "voice.jsonl", ns=(st.st_atime_ns, st.st_mtime_ns))
    rep = night()
    assert rep["files"] == 1 and rep["sessions_changed"] == 1
    # a session timed in 2100: held, and said so
    future = voice.replace(b"2025-11-24T16:", b"2100-11-24T16:").replace(
        b"sess_dda1494c73cf256d0001", b"sess_future"
    )
    (logs / "future.jsonl").write_bytes(future)
    r = CliRunner().invoke(main, args)
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["sessions_future"] == 1 and rep["sessions_pending"] == 1
    assert "1 of them with events in the future" in r.output


def test_slices_of_short_lines_are_cut_where_a_line_by_line_search_cuts_them() -> None:
    """Blank and junk lines are counted a block at a time (a gzip of 256 MiB of them read at
    ~1 MB/s); the cut must stay exactly the one-by-one search's."""
    import random

    from pipeline.read import raw

    def one_by_one(buf: bytearray, start: int, cut: int) -> int:
        pos = start
        for _ in range(raw.SLICE_LINES):
            nl = buf.find(b"\n", pos, cut)
            if nl < 0:
                return cut
            pos = nl + 1
        return pos if pos < cut else cut

    rng = random.Random(7)
    for _ in range(40):
        width = rng.choice([0, 3, 2000])
        n = rng.randint(0, 140_000 if width < 100 else 400)
        data = b"".join(b"x" * rng.randint(0, width) + b"\n" for _ in range(n))
        buf = bytearray(data + (b"tail" if rng.random() < 0.5 else b""))
        start = rng.randint(0, min(8, len(buf)))
        cut = max(start, len(buf) - rng.randint(0, min(8, len(buf))))
        assert raw._line_cut(buf, start, cut) == one_by_one(buf, start, cut)
