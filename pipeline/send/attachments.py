"""Attachments: where a session's rebuilt audio goes before its spans are sent (`--audio`).

`dir:PATH` writes WAV files under PATH, one folder per session; `upload` follows Braintrust's
attachment flow as its SDKs do: `POST {app_url}/api/apikey/login` once for the run (the
organization and the API URL, send/braintrust.py), then per clip `POST {api_url}/attachment`
for a signed URL, `PUT` the bytes there, `POST {api_url}/attachment/status` with `done` (or
`error`). Network errors, 408, 429 and 5xx are retried with backoff, other 4xx never. A session whose clips did not all upload is
sent with its audio inline instead (all of its references replaced, never some), so no
span names an object whose upload did not finish.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pipeline import private
from pipeline.errors import AuthError, CircuitOpenError, Interrupted, UploadError
from pipeline.private import safe_name
from pipeline.records import Clip, SessionSpans
from pipeline.send.braintrust import DEFAULT_APP_URL, Login, choose, login_url
from pipeline.send.http import DeadlineExceeded, parse_retry_after, request_within
from pipeline.send.retry import BACKOFF_MAX, SYSTEM_CLOCK, Circuit, Clock
from pipeline.send.settings import DEFAULT_MAX_RETRY_TIME, DEFAULT_TIMEOUT, redact_url

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

    def close(self, counts: AudioCounts) -> None:
        """The run is over: fold what is left to say into `counts`."""


class DirectoryAudio:
    """`--audio dir:PATH`: WAV files under PATH/<session>/, names that sort by turn."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, sess: SessionSpans, counts: AudioCounts) -> None:
        if not sess.clips:
            return
        folder = self.root / safe_name(sess.session_key)
        private.mkdir(folder)
        for clip in sess.clips:
            _write(folder / clip.filename, clip.wav)
            counts.audio_files_written += 1

    def close(self, counts: AudioCounts) -> None:
        pass


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: written beside, then renamed; 0600 (a caller's voice)."""
    with private.replacing(path) as fh:
        fh.write(data)


@dataclass(frozen=True, slots=True)
class AttachmentConfig:
    """Braintrust's hosts (send/braintrust.py), the key that opens them, and the run's limits."""

    api_key: str = field(repr=False)
    app_url: str = DEFAULT_APP_URL  # BRAINTRUST_APP_URL: where the login is
    api_url: str | None = None  # BRAINTRUST_API_URL; None: the organization's, else Braintrust's
    org_name: str | None = None  # BRAINTRUST_ORG_NAME; None: the first the key sees
    timeout: float = DEFAULT_TIMEOUT  # --timeout: a whole request at most
    max_retry_time: float = DEFAULT_MAX_RETRY_TIME  # --max-retry-time: the run's uploads at most
    attempts: int = 4  # tries of one request at most, as the SDKs' retry policy


class BraintrustAttachments:
    """`--audio upload`: Braintrust's attachment flow, once per clip key.

    One login for the run (`login`, before anything is read); then, per clip, a signed URL,
    the bytes, the status. Every request has the whole-request deadline `--timeout`, stops
    with the run, and is retried on network errors, 408, 429 (after its `Retry-After`) and
    5xx, at most `attempts` times; the run's uploads as a whole stop retrying once Braintrust
    has failed for `--max-retry-time` (a `Circuit`, as for OTLP batches). Each upload is
    reported to `on_uploaded` as it completes (the state records it at once, so a killed run
    uploads nothing twice)."""

    def __init__(
        self,
        cfg: AttachmentConfig,
        uploaded: set[str] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        session: Any = None,
        stop: threading.Event | None = None,
        on_uploaded: Callable[[str], None] | None = None,
    ) -> None:
        self.stop = stop or threading.Event()
        import requests  # only a run that uploads needs it (workers never import it)

        self.cfg = cfg
        self.uploaded = uploaded if uploaded is not None else set()
        self.on_uploaded = on_uploaded
        self.clock = clock
        self.circuit = Circuit(cfg.max_retry_time, clock.now)
        self.http = session or requests.Session()
        self.http.headers["Authorization"] = f"Bearer {cfg.api_key}"
        self.signed = requests.Session()  # a signed URL carries its own authority: no key
        self.login_result: Login | None = None
        self.login_error: str | None = None
        self.inline: dict[str, int] = {}  # why audio went inline → sessions

    def login(self) -> Login | None:
        """Log in once for the run. Refused credentials and an unknown BRAINTRUST_ORG_NAME
        raise (the user must fix them); Braintrust out of reach is remembered: every
        session's audio then goes inline, without a login per session."""
        if self.login_result is None and self.login_error is None:
            try:
                answer = self._call("POST", login_url(self.cfg.app_url), login=True)
                self.login_result = choose(answer, self.cfg.org_name, self.cfg.api_url)
            except (UploadError, Interrupted) as exc:
                self.login_error = f"Braintrust's login failed: {exc}"
                log.warning("audio will be sent inline: %s", self.login_error)
        return self.login_result

    def put(self, sess: SessionSpans, counts: AudioCounts) -> None:
        if not sess.clips:
            return
        try:
            login = self.login()
            if login is None:
                raise UploadError(self.login_error or "no login")
            for clip in sess.clips:
                if clip.key in self.uploaded:
                    counts.audio_upload_skipped += 1
                    continue
                self._upload(clip, login)
                self.uploaded.add(clip.key)
                if self.on_uploaded is not None:
                    self.on_uploaded(clip.key)
                counts.audio_uploaded += 1
        except (UploadError, Interrupted) as exc:
            reason = str(exc)
            if reason not in self.inline:
                log.warning("audio of session %s sent inline: %s", sess.session_key, reason)
            self.inline[reason] = self.inline.get(reason, 0) + 1
            sess.spans = [sess.inline_spans.get(i, span) for i, span in enumerate(sess.spans)]
            counts.audio_sessions_inline += 1

    def close(self, counts: AudioCounts) -> None:
        """The run's error lines: one per reason audio went inline, with its session count."""
        for reason, n in self.inline.items():
            counts.errors.append(f"audio of {n} session{'s' * (n != 1)} sent inline: {reason}")
        self.inline.clear()

    # -- the flow ------------------------------------------------------------------

    def _upload(self, clip: Clip, login: Login) -> None:
        org, api = login.org.id, login.api_url
        meta = {
            "key": clip.key,
            "filename": clip.filename,
            "content_type": "audio/wav",
            "org_id": org,
        }
        signed = self._call("POST", f"{api}/attachment", json=meta)
        url = signed.get("signedUrl") if isinstance(signed, dict) else None
        if not isinstance(url, str):
            raise UploadError("Braintrust answered no signed URL for an attachment")
        headers = {str(k): str(v) for k, v in (signed.get("headers") or {}).items()}
        if ".blob.core.windows.net" in url:
            headers.setdefault("x-ms-blob-type", "BlockBlob")
        # only the headers Braintrust signed, as its SDKs send (a Content-Type of our own
        # breaks a signature that covers the header, as a GCS V2 signed URL's does)
        try:
            self._call("PUT", url, data=clip.wav, headers=headers, signed=True)
        except UploadError as exc:
            self._status(api, clip.key, org, {"upload_status": "error", "error_message": str(exc)})
            raise
        self._status(api, clip.key, org, {"upload_status": "done"})

    def _status(self, api: str, key: str, org: str, status: dict[str, str]) -> None:
        try:
            self._call(
                "POST",
                f"{api}/attachment/status",
                json={"key": key, "org_id": org, "status": status},
            )
        except UploadError:
            if status["upload_status"] == "done":
                raise

    def _call(
        self, method: str, url: str, *, signed: bool = False, login: bool = False, **kwargs: Any
    ) -> Any:
        """One request, retried as the SDKs retry (network errors, 408, 429, 5xx; a
        `Retry-After` honoured), never past the run's budget. A redirect is a failure: a
        signed URL that answers 3xx stored nothing."""
        import requests

        where = _where(url)
        started = self.clock.now()
        last = f"{method} {where}: not tried"
        for attempt in range(1, self.cfg.attempts + 1):
            try:
                self.circuit.check()
            except CircuitOpenError as exc:
                raise UploadError(f"{method} {where}: {exc}") from None
            delay: float | None = None
            http = self.signed if signed else self.http
            try:
                resp = request_within(
                    http,
                    method,
                    url,
                    timeout=self.cfg.timeout,
                    stop=self.stop,
                    allow_redirects=False,
                    **kwargs,
                )
            except DeadlineExceeded:
                last = f"{method} {where}: no complete answer within {self.cfg.timeout:g} s (--timeout)"
                if signed:
                    self.signed = requests.Session()  # the abandoned request still holds it
                else:
                    self.http = _fresh(self.http)
            except requests.RequestException as exc:
                last = f"{method} {where}: {type(exc).__name__}"
            else:
                code = resp.status_code
                if 200 <= code < 300:
                    self.circuit.success()
                    try:
                        return resp.json() if resp.content else {}
                    except ValueError:
                        return {}
                last = f"{method} {where}: HTTP {code}"
                if login and code in (401, 403):
                    raise AuthError(
                        f"Braintrust refused the API key at {where} (HTTP {code}): check BRAINTRUST_API_KEY"
                    )
                if code not in RETRYABLE_UPLOAD and code < 500:
                    raise UploadError(
                        last + (" (a redirect: nothing was stored)" if 300 <= code < 400 else "")
                    )
                delay = parse_retry_after(resp.headers.get("retry-after"))
            self.circuit.failure()
            if attempt == self.cfg.attempts:
                break
            wait = delay if delay is not None else min(BACKOFF_MAX, 0.5 * 2 ** (attempt - 1))
            if self.clock.now() - started + wait > self.cfg.max_retry_time:
                raise UploadError(
                    f"{last} (a retry in {wait:g} s would outlast --max-retry-time "
                    f"{self.cfg.max_retry_time:g})"
                )
            self.clock.sleep(wait, self.stop)
        raise UploadError(last)


RETRYABLE_UPLOAD = frozenset({408, 429})  # and every 5xx


def _fresh(old: Any) -> Any:
    """A new session with the old one's headers (the key)."""
    import requests

    new = requests.Session()
    new.headers.update(old.headers)
    return new


def _where(url: str) -> str:
    """A URL without its userinfo and query (a signed URL's query is a credential)."""
    return redact_url(url)


def with_audio(
    sessions: Iterable[SessionSpans], sink: AudioSink | None, counts: AudioCounts
) -> Iterator[SessionSpans]:
    """Sessions on their way to the sender, their clips stored first (then let go)."""
    for sess in sessions:
        if sink is not None and sess.clips:
            sink.put(sess, counts)
        sess.clips, sess.inline_spans = [], {}
        yield sess
