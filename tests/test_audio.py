"""Audio you can hear (`--audio`): the WAV files rebuilt from the logged payloads, checked
against PCM this test concatenates itself from the logs' `append`/delta events, and
Braintrust's attachment flow against a loopback Braintrust (login, attachment, status, and
the signed URLs' object store), with real failures."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import struct
import wave
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import SAMPLES, FakeClock, traces
from invariants import audio_problems
from receivers import HttpReceiver
from test_traces import trace_of

from pipeline.cli import main
from pipeline.config import RunConfig
from pipeline.resolve import resolve_run
from pipeline.run import run_convert

DAY = SAMPLES / "2025-11-24"
KEY = "sk-test-attachments-0123456789"


def events(path: Path) -> list[dict[str, Any]]:
    """A sample log's events in file order (the samples log in time order)."""
    import gzip

    data = path.read_bytes()
    text = (gzip.decompress(data) if path.suffix == ".gz" else data).decode()
    out = []
    for line in text.splitlines():
        rec = json.loads(line)
        out.append(rec.get("event", rec))
    return out


def pcm_of(evs: list[dict[str, Any]], etype: str, **match: Any) -> bytes:
    """The decoded payloads of `etype` events (matching `match`), concatenated."""
    return b"".join(
        base64.b64decode(e.get("audio") or e.get("delta"))
        for e in evs
        if e["type"] == etype and all(e.get(k) == v for k, v in match.items())
    )


def wav_frames(data: bytes) -> tuple[int, int, int, bytes]:
    """(format tag, rate, bits, samples) of a WAV file, read by its chunks (any tag)."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    pos, tag, rate, bits, samples = 12, 0, 0, 0, b""
    while pos < len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            tag, _, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
        elif cid == b"data":
            samples = body
        pos += 8 + size
    return tag, rate, bits, samples


def expected_clips() -> dict[str, bytes]:
    """Every clip's samples, by the id in its file name, computed here from the sample logs
    alone: a user input's slice of its session's appends between the VAD offsets (bytes per
    ms from the logged format), a reply's deltas in order, cut at its truncation."""
    out: dict[str, bytes] = {}
    for path in sorted([*DAY.glob("*.jsonl"), *DAY.glob("*.jsonl.gz")]):
        evs = events(path)
        cfg: dict[str, Any] = {}
        for e in evs:
            if e["type"] in ("session.created", "session.updated"):
                cfg.update(e["session"])
        fmt = cfg.get("input_audio_format") or (cfg.get("audio") or {}).get("input", {}).get(
            "format"
        )
        if fmt is None:
            continue  # no format logged: no clip
        per_ms = 8 if "g711" in json.dumps(fmt) or "pcmu" in json.dumps(fmt) else 48
        stream = pcm_of(evs, "input_audio_buffer.append")
        for e in evs:
            if e["type"] == "input_audio_buffer.speech_stopped":
                start = next(
                    x["audio_start_ms"]
                    for x in evs
                    if x["type"] == "input_audio_buffer.speech_started"
                    and x["item_id"] == e["item_id"]
                )
                out[e["item_id"]] = stream[start * per_ms : e["audio_end_ms"] * per_ms]
        delta = "response.output_audio.delta" if any(x["type"] == "response.output_audio.delta" for x in evs) else "response.audio.delta"  # fmt: skip
        for rid in {e["response_id"] for e in evs if e["type"] == delta}:
            pcm = pcm_of(evs, delta, response_id=rid)
            items = {e["item_id"] for e in evs if e["type"] == delta and e["response_id"] == rid}
            cut = [
                e["audio_end_ms"]
                for e in evs
                if e["type"] == "conversation.item.truncated" and e["item_id"] in items
            ]
            out[rid] = pcm[: cut[0] * per_ms] if cut else pcm
    return out


def clip_id(filename: str) -> str:
    """The item or response id a clip's file is named after (`002-1-user-item_x.wav`)."""
    return filename.removesuffix(".wav").split("-", 3)[3]


@pytest.fixture(scope="module")
def audio_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    """The samples converted with --audio dir:PATH: traces, the WAV folder, the result."""
    out = tmp_path_factory.mktemp("audio")
    cfg = dataclasses.replace(
        RunConfig.to_file(inputs=(str(SAMPLES),), output=out / "t.jsonl"),
        mapping=dataclasses.replace(RunConfig.to_file((), out).mapping, audio="dir"),
        audio_dir=out / "wav",
    )
    result = run_convert(cfg)
    assert result.exit_code == 0
    return out / "t.jsonl", out / "wav", result


def test_each_turns_speech_is_the_logged_pcm_cut_where_the_caller_spoke(
    audio_run: tuple[Path, Path, Any],
) -> None:
    traces_file, wavs, _ = audio_run
    t, s = trace_of(traces_file, "voice")
    evs = [ev for _, _, ev in s.events]
    folder = wavs / s.session_id
    stream = pcm_of(evs, "input_audio_buffer.append")
    for ui in t.kind("user_input"):
        (part,) = [p for p in t.json_attr(ui, "braintrust.input_json")[0]["content"] if p["type"] == "input_audio"]  # fmt: skip
        rel = part["input_audio"]["data"]
        assert rel.startswith(f"{s.session_id}/") and part["input_audio"]["format"] == "wav"
        with wave.open(str(wavs / rel)) as w:
            assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (24_000, 2, 1)
            got = w.readframes(w.getnframes())
        a, b = ui["_a"]["realtime.audio_start_ms"] * 48, ui["_a"]["realtime.audio_end_ms"] * 48
        assert hashlib.sha256(got).digest() == hashlib.sha256(stream[a:b]).digest()
    for r in t.kind("response"):
        rid = r["_a"]["gen_ai.response.id"]
        (said,) = t.json_attr(r, "braintrust.output_json")["content"]
        with wave.open(str(wavs / said["audio"]["data"])) as w:
            got = w.readframes(w.getnframes())
        assert got == pcm_of(evs, "response.output_audio.delta", response_id=rid)
        assert said["transcript"]  # the words stay beside the audio
    names = sorted(p.name for p in folder.iterdir())
    assert names[0].startswith("001-2-assistant") and names[1].startswith("002-1-user")


def test_every_clip_of_every_sample_is_the_pcm_computed_from_the_log(
    audio_run: tuple[Path, Path, Any],
) -> None:
    _, wavs, _ = audio_run
    want = expected_clips()
    files = sorted(wavs.rglob("*.wav"))
    assert len(files) == len(want) == 26
    for f in files:
        _, _, _, samples = wav_frames(f.read_bytes())
        assert hashlib.sha256(samples).digest() == hashlib.sha256(want[clip_id(f.name)]).digest()


def test_push_to_talk_input_is_the_appends_since_the_previous_commit(tmp_path: Path) -> None:
    """No VAD offsets (push-to-talk): a user input's audio is what was appended after the
    previous commit, up to its own."""
    one, two = b"\x01\x00" * 2400, b"\x02\x00" * 4800  # 50 ms and 100 ms of PCM16
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    evs = [
        {
            "type": "session.created",
            "session": {"id": "sess_ptt", "input_audio_format": "pcm16", "turn_detection": None},
        },
        {"type": "input_audio_buffer.append", "audio": b64(one)},
        {"type": "input_audio_buffer.commit"},
        {"type": "input_audio_buffer.committed", "item_id": "i1"},
        {"type": "input_audio_buffer.append", "audio": b64(two[:4800])},
        {"type": "input_audio_buffer.append", "audio": b64(two[4800:])},
        {"type": "input_audio_buffer.commit"},
        {"type": "input_audio_buffer.committed", "item_id": "i2"},
    ]
    log = tmp_path / "ptt.jsonl"
    log.write_text(
        "".join(json.dumps({**e, "timestamp": f"2025-11-24T10:00:0{i}Z"}) + "\n" for i, e in enumerate(evs))
    )  # fmt: skip
    out, wav_dir = tmp_path / "t.jsonl", tmp_path / "wav"
    args = ["convert", "-i", str(log), "-o", str(out), "--no-state", "--audio", f"dir:{wav_dir}"]
    assert CliRunner().invoke(main, args).exit_code == 0
    got = {clip_id(f.name): wav_frames(f.read_bytes())[3] for f in wav_dir.rglob("*.wav")}
    assert got == {"i1": one, "i2": two}


def test_an_interrupted_reply_is_cut_where_the_caller_stopped_hearing_it(
    audio_run: tuple[Path, Path, Any],
) -> None:
    traces_file, wavs, _ = audio_run
    t, _ = trace_of(traces_file, "barge_in")
    cut = t.kind("response")[0]
    (said,) = t.json_attr(cut, "braintrust.output_json")["content"]
    with wave.open(str(wavs / said["audio"]["data"])) as w:
        heard_ms = w.getnframes() * 1000 / w.getframerate()
    assert heard_ms == said["truncated_at_ms"] == 1500


def test_a_g711_call_is_a_mu_law_wav_and_no_format_logged_makes_no_file(
    audio_run: tuple[Path, Path, Any],
) -> None:
    traces_file, wavs, result = audio_run
    t, s = trace_of(traces_file, "cut_off")  # beta, g711_ulaw logged
    evs = [ev for _, _, ev in s.events]
    (r,) = t.kind("response")
    (said,) = t.json_attr(r, "braintrust.output_json")["content"]
    tag, rate, bits, samples = wav_frames((wavs / said["audio"]["data"]).read_bytes())
    assert (tag, rate, bits) == (7, 8000, 8)  # WAVE_FORMAT_MULAW
    assert samples == pcm_of(evs, "response.audio.delta")
    p, ps = trace_of(traces_file, "phone")  # G.711 on the line, no format in the log
    assert not (wavs / ps.session_id).exists()
    assert '"data"' not in json.dumps([x["_a"] for x in p.spans])
    assert result.stats.audio_skipped == {
        "no input audio format logged": 2,
        "no output audio format logged": 1,
    }


def test_inline_audio_is_the_same_wav_and_a_clip_too_large_is_left_out(
    tmp_path: Path, audio_run: tuple[Path, Path, Any]
) -> None:
    _, wavs, _ = audio_run
    out = tmp_path / "t.jsonl"
    r = CliRunner().invoke(
        main, ["convert", "-i", str(DAY / "barge_in_beta.jsonl"), "-o", str(out), "--no-state", "--audio", "inline"]
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    (t,) = traces(out).values()
    for r_span in t.kind("response"):
        (said,) = t.json_attr(r_span, "braintrust.output_json")["content"]
        data = base64.b64decode(said["audio"]["data"])
        assert data in {
            p.read_bytes() for p in (wavs / t.root["_a"]["realtrace.session_key"]).iterdir()
        }
    small = tmp_path / "s.jsonl"
    args = ["convert", "-i", str(DAY / "barge_in_beta.jsonl"), "-o", str(small), "--no-state"]
    r = CliRunner().invoke(main, [*args, "--audio", "inline", "--max-batch-bytes", "150000"])
    assert r.exit_code == 0, r.output
    assert "too large to send inline" in r.output
    lines = small.read_bytes().splitlines()
    assert all(len(line) <= 150_000 for line in lines)


@pytest.fixture
def braintrust() -> Any:
    rec = HttpReceiver(path="/otel/v1/traces", attachments=True)
    yield rec
    rec.stop()


def upload_config(tmp_path: Path, rec: HttpReceiver, clock: FakeClock, state: bool) -> RunConfig:
    env = {
        "BRAINTRUST_API_KEY": KEY,
        "BRAINTRUST_PARENT": "project_name:voice",
        "BRAINTRUST_API_URL": rec.endpoint,
        "BRAINTRUST_APP_URL": rec.endpoint,  # one stand-in for both hosts (two: test_braintrust)
    }
    # the Braintrust destination by the variables alone (no --output): as a user runs it
    cfg = resolve_run(
        env, inputs=(str(SAMPLES),), no_state=not state, state_path=tmp_path / "state.db"
    )
    assert cfg.mapping.audio == "upload" and cfg.attachments is not None
    return dataclasses.replace(cfg, destination=dataclasses.replace(cfg.destination, clock=clock))


def references(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every attachment reference in the spans' payloads."""
    found: list[dict[str, Any]] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            if v.get("type") == "braintrust_attachment":
                found.append(v)
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    for s in spans:
        for key in ("braintrust.input_json", "braintrust.output_json"):
            if key in s["_a"]:
                walk(json.loads(s["_a"][key]))
    return found


def received_spans(rec: HttpReceiver) -> list[dict[str, Any]]:
    """The spans the receiver got (the last version of each), string attributes decoded."""
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    out = []
    for raw in rec.spans.values():
        span = Span.FromString(raw)
        attrs = {a.key: a.value.string_value for a in span.attributes}
        out.append({"name": span.name, "_a": attrs})
    return out


def test_upload_follows_braintrusts_flow_and_a_rerun_uploads_nothing(
    tmp_path: Path, braintrust: HttpReceiver, audio_run: tuple[Path, Path, Any]
) -> None:
    _, wavs, _ = audio_run
    clock = FakeClock()
    result = run_convert(upload_config(tmp_path, braintrust, clock, state=True))
    assert result.exit_code == 0 and result.stats.audio_uploaded == 26
    logins = [c for c in braintrust.api_calls if c[1] == "/api/apikey/login"]
    assert len(logins) == 1 and logins[0][2] == f"Bearer {KEY}"
    # the signed URL never sees the key; every object is a WAV equal to the dir: files
    assert all(c[2] is None for c in braintrust.api_calls if c[1] == "/signed")
    local = {p.read_bytes() for p in wavs.rglob("*.wav")}
    assert set(braintrust.objects.values()) == local
    want = expected_clips()  # each downloaded object, decoded, against the log's own PCM
    names = {r["key"]: r["filename"] for r in references(received_spans(braintrust))}
    for key, data in braintrust.objects.items():
        assert wav_frames(data)[3] == want[clip_id(names[key])]
    assert set(braintrust.statuses.values()) == {"done"}
    refs = references(received_spans(braintrust))
    assert len(refs) == 26 and {r["key"] for r in refs} == set(braintrust.objects)
    assert audio_problems(received_spans(braintrust), objects=braintrust.objects) == []
    assert all(r["content_type"] == "audio/wav" and r["filename"].endswith(".wav") for r in refs)
    # a re-run with the state: nothing converted, nothing uploaded (its one login, before
    # anything is read, checks the key and the organization); a --full one: still none
    calls = len(braintrust.api_calls)
    again = run_convert(upload_config(tmp_path, braintrust, clock, state=True))
    assert again.exit_code == 4
    assert [c[1] for c in braintrust.api_calls[calls:]] == ["/api/apikey/login"]
    full = dataclasses.replace(upload_config(tmp_path, braintrust, clock, state=True), full=True)
    assert run_convert(full).stats.audio_upload_skipped == 26
    assert not [c for c in braintrust.api_calls[calls:] if c[1] != "/api/apikey/login"]
    assert clock.waits == []


def test_failed_uploads_fall_back_to_inline_audio_and_say_so(
    tmp_path: Path, braintrust: HttpReceiver
) -> None:
    # the first attachment call fails with 500s until retries run out; later signed URLs
    # are dead (403, never retried): every session's audio goes inline instead
    braintrust.api_script = lambda route, n: (
        500 if route == "/attachment" and n <= 4 else 403 if route == "/signed" else 200
    )
    clock = FakeClock()
    result = run_convert(upload_config(tmp_path, braintrust, clock, state=False))
    assert result.exit_code == 3
    assert result.stats.audio_sessions_inline == 7 and result.stats.audio_uploaded == 0
    assert clock.waits == [0.5, 1.0, 2.0]  # 5xx retried with backoff, on the fake clock
    assert len([c for c in braintrust.api_calls if c[1] == "/signed"]) == 6  # one try each
    assert set(braintrust.statuses.values()) == {"error"}
    spans = received_spans(braintrust)
    assert references(spans) == []  # no span names an object whose upload did not finish
    inline = [
        p["audio"]["data"]
        for s in spans
        if "braintrust.output_json" in s["_a"] and s["_a"]["braintrust.output_json"].startswith("{")
        for p in json.loads(s["_a"]["braintrust.output_json"]).get("content", [])
        if "audio" in p
    ]
    assert inline and all(base64.b64decode(d)[:4] == b"RIFF" for d in inline)
    assert any("sent inline" in e and "HTTP 500" in e for e in result.stats.errors)


def test_audio_flag_errors_are_one_line(tmp_path: Path) -> None:
    args = ["convert", "-i", str(SAMPLES), "-o", str(tmp_path / "t.jsonl"), "--no-state"]
    r = CliRunner().invoke(main, [*args, "--audio", "loud"])
    assert r.exit_code == 2 and "--audio 'loud'" in r.output
    r = CliRunner().invoke(main, [*args, "--audio", "upload"])
    assert r.exit_code == 2 and "Braintrust" in r.output and "Traceback" not in r.output


def test_audio_off_reads_no_payload(tmp_path: Path) -> None:
    """The default elsewhere: no payload is kept (the byte scan still skips them)."""
    from pipeline.read.load import ReadOptions, load_file

    off = load_file(str(DAY / "voice_ga.jsonl"), 0, ReadOptions())
    on = load_file(str(DAY / "voice_ga.jsonl"), 0, ReadOptions(keep_audio=True))
    assert off.events["audio_pcm"].null_count() == off.events.height
    audio = on.events.filter(on.events["audio_b64_len"].is_not_null())
    kinds = ("input_audio_buffer.append", "response.output_audio.delta")
    logged = [e for e in events(DAY / "voice_ga.jsonl") if e["type"] in kinds]
    payloads = [base64.b64decode(e.get("audio") or e["delta"]) for e in logged]
    assert audio["audio_pcm"].to_list() == payloads and len(payloads) == 114
