"""Object-store input on a real local S3 server (moto's server mode, on loopback, started
here): the same logs convert identically from S3 and from disk, and the state fingerprints
objects by size, ETag and last-modified: an unchanged object is not read again, a
changed one is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from conftest import SAMPLES, read_spans

from pipeline.cli import main


def convert(env: dict[str, str], *args: str) -> Any:
    return CliRunner(env={**env, "BRAINTRUST_API_KEY": ""}).invoke(
        main, ["convert", *args, "-q"], catch_exceptions=False
    )


def test_s3_input_converts_like_local_files_and_only_changed_objects_are_reread(
    s3: tuple[Any, dict[str, str]], tmp_path: Path
) -> None:
    client, env = s3
    local = tmp_path / "local.jsonl"
    assert convert({}, "-i", str(SAMPLES), "-o", str(local), "--no-state").exit_code == 0
    out, report = tmp_path / "s3.jsonl", tmp_path / "report.json"
    r = convert(env, "-i", "s3://logs/voice/", "-o", str(out), "--report", str(report))
    assert r.exit_code == 0, r.output
    assert read_spans(out) == read_spans(local)  # identical spans, in the same order
    assert json.loads(report.read_text())["files"] == 9

    # unchanged objects are not read again
    r = convert(env, "-i", "s3://logs/voice/", "-o", str(out), "--report", str(report))
    assert r.exit_code == 4, r.output
    rep = json.loads(report.read_text())
    assert (rep["files"], rep["files_skipped"]) == (0, 9)

    # a changed object is (its new event makes its session change: sent again)
    key = next(
        o["Key"]
        for o in client.list_objects_v2(Bucket="logs")["Contents"]
        if o["Key"].endswith("errors_ga.jsonl")
    )
    body = client.get_object(Bucket="logs", Key=key)["Body"].read()
    client.put_object(Bucket="logs", Key=key, Body=body + b"\n")
    r = convert(env, "-i", "s3://logs/voice/", "-o", str(out), "--report", str(report))
    rep = json.loads(report.read_text())
    assert (rep["files"], rep["files_skipped"]) == (1, 8), r.output


def test_s3_without_the_extra_or_bucket_is_one_line(
    s3: tuple[Any, dict[str, str]], tmp_path: Path
) -> None:
    _, env = s3
    r = convert(env, "-i", "s3://no-such-bucket/x/", "-o", str(tmp_path / "t.jsonl"))
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "no input file found" in r.output or "no such bucket" in r.output


def test_object_store_failures_are_configuration_errors_in_seconds(
    s3: tuple[Any, dict[str, str]], tmp_path: Path
) -> None:
    """A dead endpoint: exit 2 naming what to check, in seconds (it took 17.7 s, then an
    internal error); botocore's own failures each name what to set."""
    import time

    import s3fs
    from botocore.exceptions import ClientError, NoCredentialsError
    from receivers import free_port

    from pipeline.read.remote import store_error

    _, env = s3
    dead = {**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    s3fs.S3FileSystem.clear_instance_cache()  # fsspec keeps one per process and options
    t0 = time.monotonic()
    r = convert(dead, "-i", "s3://logs/voice/", "-o", str(tmp_path / "t.jsonl"))
    says = "cannot reach the object store: check the network and AWS_ENDPOINT_URL"
    assert r.exit_code == 2 and says in r.output, r.output
    assert time.monotonic() - t0 < 15 and "internal error" not in r.output
    s3fs.S3FileSystem.clear_instance_cache()
    url = "s3://logs/"
    assert "set AWS_ACCESS_KEY_ID" in str(store_error(url, NoCredentialsError()))
    denied = ClientError({"Error": {"Code": "InvalidAccessKeyId", "Message": "x"}}, "ListObjects")
    assert "check AWS_ACCESS_KEY_ID" in str(store_error(url, denied))
    assert "access denied" in str(store_error(url, PermissionError("Access Denied")))


def test_a_file_keyed_session_has_the_same_ids_on_disk_and_in_the_store(
    s3: tuple[Any, dict[str, str]], tmp_path: Path
) -> None:
    """A log naming no session is keyed by its content (§7): a local copy and the archive's
    copy give the same trace (a backfill from the archive re-sends none as new)."""
    import json

    client, env = s3
    lines = [
        json.loads(x) for x in (SAMPLES / "2025-11-24" / "voice_ga.jsonl").read_text().splitlines()
    ]
    for rec in lines:
        rec.pop("session_id", None)
    body = "".join(
        json.dumps(r) + "\n"
        for r in lines
        if r["event"]["type"] not in ("session.created", "session.updated")
    )
    local = tmp_path / "archive" / "2025" / "call.jsonl"
    local.parent.mkdir(parents=True)
    local.write_text(body)
    client.put_object(Bucket="logs", Key="archive/2025/call.jsonl", Body=body.encode())
    ids = []
    for source in (str(tmp_path / "archive"), "s3://logs/archive/"):
        out = tmp_path / f"{len(ids)}.jsonl"
        r = convert(env, "-i", source, "-o", str(out), "--no-state")
        assert r.exit_code == 0, r.output
        spans = read_spans(out)
        (key,) = {s["_a"].get("realtrace.session_key") for s in spans if not s.get("parentSpanId")}
        assert key.startswith("log:")
        ids.append({(s["traceId"], s["spanId"]) for s in spans})
    assert ids[0] == ids[1]


def test_audio_uploads_land_in_a_real_object_store_through_presigned_urls(
    s3: tuple[Any, dict[str, str]], tmp_path: Path
) -> None:
    """Braintrust's attachment flow with its signed URLs pointing at a real S3 server's
    presigned PUT URLs: every uploaded object is read back from the store and is the WAV
    the same run writes with --audio dir: (whose samples test_audio checks against the
    logs)."""
    import dataclasses

    from receivers import HttpReceiver

    from pipeline.config import RunConfig
    from pipeline.resolve import resolve_run
    from pipeline.run import run_convert

    client, _ = s3
    client.create_bucket(Bucket="attachments")
    braintrust = HttpReceiver(path="/otel/v1/traces", attachments=True)
    braintrust.sign = lambda key: client.generate_presigned_url(
        "put_object", Params={"Bucket": "attachments", "Key": key}, ExpiresIn=600
    )
    try:
        env = {
            "BRAINTRUST_API_KEY": "sk-test",
            "BRAINTRUST_PARENT": "project_name:voice",
            "BRAINTRUST_API_URL": braintrust.endpoint,
            "BRAINTRUST_APP_URL": braintrust.endpoint,
        }
        cfg = resolve_run(env, inputs=(str(SAMPLES),), no_state=True)
        result = run_convert(cfg)
    finally:
        braintrust.stop()
    assert result.exit_code == 0 and result.stats.audio_uploaded == 26, result.stats.errors
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="attachments")["Contents"]]
    assert len(keys) == 26 and set(braintrust.statuses) == set(keys)
    stored = {client.get_object(Bucket="attachments", Key=k)["Body"].read() for k in keys}
    base = RunConfig.to_file(inputs=(str(SAMPLES),), output=tmp_path / "t.jsonl")
    local = dataclasses.replace(
        base, mapping=dataclasses.replace(base.mapping, audio="dir"), audio_dir=tmp_path / "wav"
    )
    assert run_convert(local).exit_code == 0
    assert stored == {p.read_bytes() for p in (tmp_path / "wav").rglob("*.wav")}
