"""Attachments: where a session's rebuilt audio goes before its spans are sent (`--audio`).

`dir:PATH` writes WAV files under PATH, one folder per session; `upload` follows Braintrust's
attachment flow (its instrumentation spec): `POST {api_url}/api/apikey/login` once for the
org id, then per clip `POST {api_url}/attachment` for a signed URL, `PUT` the bytes there,
`POST {api_url}/attachment/status` with `done` (or `error`). 5xx answers and network
errors are retried with backoff, 4xx never. A session whose clips did not all upload is
sent with its audio inline instead (all of its references replaced, never some), so no
span names an object whose upload did not finish.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pipeline import private
from pipeline.core.audio import Clip, safe_name
from pipeline.core.model import SessionSpans
from pipeline.errors import Interrupted
from pipeline.send.retry import SYSTEM_CLOCK, Clock

log = logging.getLogger("realtrace")


@dataclass(slots=True)
class AudioCounts:
    """What happened to the rebuilt audio of the run (folded into its report)."""

    audio_files_written: int = 0
    audio_uploaded: int = 0
    audio_upload_skipped: int = 0  # uploaded by an earlier run (the state says so)
    audio_sessions_inline: int = 0  # sessions sent with inline audio: their upload failed
    errors: list[str] = field(default_factory=list)  # the run's error lines


class AudioSink(Protocol):
    def put(self, sess: SessionSpans, counts: AudioCounts) -> None:
        """Store the session's clips, and make its spans name only what was stored."""


class DirectoryAudio:
    """`--audio dir:PATH`: WAV files under PATH/<session>/, names that sort by turn."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, sess: SessionSpans, counts: AudioCounts) -> None:
        if not sess.clips:
            return
        folder = self.root / safe_name(sess.session_key)
        folder.mkdir(parents=True, exist_ok=True)
        for clip in sess.clips:
            _write(folder / clip.filename, clip.wav)
            counts.audio_files_written += 1


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: written beside, then renamed; 0600 (a caller's voice)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = private.create(tmp)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


class UploadError(Exception):
    """An attachment could not be uploaded (after retries where retrying made sense)."""


@dataclass(frozen=True, slots=True)
class AttachmentConfig:
    """Braintrust's API (not its OTLP endpoint) and the key that opens it."""

    api_url: str
    api_key: str = field(repr=False)
    timeout: float = 30.0
    attempts: int = 4


class BraintrustAttachments:
    """`--audio upload`: Braintrust's attachment flow, once per clip key."""

    def __init__(
        self,
        cfg: AttachmentConfig,
        uploaded: set[str] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        session: Any = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.stop = stop or threading.Event()
        import requests  # only a run that uploads needs it (workers never import it)

        self.cfg = cfg
        self.uploaded = uploaded if uploaded is not None else set()
        self.new: list[str] = []  # uploaded by this run (for the state)
        self.clock = clock
        self.http = session or requests.Session()
        self.http.headers["Authorization"] = f"Bearer {cfg.api_key}"
        self.org_id: str | None = None

    def put(self, sess: SessionSpans, counts: AudioCounts) -> None:
        if not sess.clips:
            return
        try:
            for clip in sess.clips:
                if clip.key in self.uploaded:
                    counts.audio_upload_skipped += 1
                    continue
                self._upload(clip)
                self.uploaded.add(clip.key)
                self.new.append(clip.key)
                counts.audio_uploaded += 1
        except (UploadError, Interrupted) as exc:
            message = f"audio of session {sess.session_key} sent inline: {exc}"
            if message not in counts.errors:
                counts.errors.append(message)
            log.warning("%s", message)
            sess.spans = [sess.inline_spans.get(i, span) for i, span in enumerate(sess.spans)]
            counts.audio_sessions_inline += 1

    # -- the flow ------------------------------------------------------------------

    def _org(self) -> str:
        if self.org_id is None:
            info = self._call("POST", f"{self._api}/api/apikey/login", json={})
            orgs = info.get("org_info") if isinstance(info, dict) else None
            if not isinstance(orgs, list) or not orgs or not isinstance(orgs[0], dict):
                raise UploadError("Braintrust's login answered no organization")
            self.org_id = str(orgs[0].get("id"))
        return self.org_id

    @property
    def _api(self) -> str:
        return self.cfg.api_url.rstrip("/")

    def _upload(self, clip: Clip) -> None:
        org = self._org()
        meta = {
            "key": clip.key,
            "filename": clip.filename,
            "content_type": "audio/wav",
            "org_id": org,
        }
        signed = self._call("POST", f"{self._api}/attachment", json=meta)
        url = signed.get("signedUrl") if isinstance(signed, dict) else None
        if not isinstance(url, str):
            raise UploadError("Braintrust answered no signed URL for an attachment")
        headers = {str(k): str(v) for k, v in (signed.get("headers") or {}).items()}
        if ".blob.core.windows.net" in url:
            headers.setdefault("x-ms-blob-type", "BlockBlob")
        headers.setdefault("Content-Type", "audio/wav")
        try:
            self._call("PUT", url, data=clip.wav, headers=headers, auth=False)
        except UploadError as exc:
            self._status(clip.key, org, {"upload_status": "error", "error_message": str(exc)})
            raise
        self._status(clip.key, org, {"upload_status": "done"})

    def _status(self, key: str, org: str, status: dict[str, str]) -> None:
        try:
            self._call(
                "POST",
                f"{self._api}/attachment/status",
                json={"key": key, "org_id": org, "status": status},
            )
        except UploadError:
            if status["upload_status"] == "done":
                raise

    def _call(self, method: str, url: str, *, auth: bool = True, **kwargs: Any) -> Any:
        """One request, retried with backoff on 5xx and network errors, never on 4xx."""
        import requests

        last = ""
        for attempt in range(self.cfg.attempts):
            if attempt:
                self.clock.sleep(min(8.0, 0.5 * 2 ** (attempt - 1)), self.stop)
            try:
                if auth:
                    resp = self.http.request(method, url, timeout=self.cfg.timeout, **kwargs)
                else:  # a signed URL carries its own authority: never send the key there
                    resp = requests.request(method, url, timeout=self.cfg.timeout, **kwargs)
            except requests.RequestException as exc:
                last = f"{method} {_where(url)}: {type(exc).__name__}"
                continue
            if resp.status_code < 300:
                try:
                    return resp.json() if resp.content else {}
                except ValueError:
                    return {}
            last = f"{method} {_where(url)}: HTTP {resp.status_code}"
            if resp.status_code < 500:
                break  # a 4xx will not change by asking again
        raise UploadError(last)


def _where(url: str) -> str:
    """A URL without its query (a signed URL's query is a credential)."""
    return url.split("?", 1)[0]


def with_audio(
    sessions: Iterable[SessionSpans], sink: AudioSink | None, counts: AudioCounts
) -> Iterator[SessionSpans]:
    """Sessions on their way to the sender, their clips stored first (then let go)."""
    for sess in sessions:
        if sink is not None and sess.clips:
            sink.put(sess, counts)
        sess.clips, sess.inline_spans = [], {}
        yield sess
