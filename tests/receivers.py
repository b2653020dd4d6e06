"""Real OTLP receivers on loopback (gRPC TraceService and HTTP /v1/traces), scriptable to fail.

A script is a function (request number, starting at 1) → Action; the default
accepts everything. Receivers record every span id they stored (duplicates
included), request times and the headers they saw.
"""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass
class Action:
    """How to answer one request. status 200/OK stores the spans."""

    http_status: int = 200
    grpc_code: grpc.StatusCode = grpc.StatusCode.OK
    retry_after: float | None = None
    rejected: int = 0
    message: str = ""
    delay: float = 0.0
    # HTTP: answer 200 with this page instead of OTLP (a proxy, a wrong path), storing nothing
    html: str | None = None


OK = Action()
Script = Callable[[int], Action]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Record:
    span_ids: list[str] = field(default_factory=list)
    trace_ids: set[str] = field(default_factory=set)
    times: list[float] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    spans: dict[str, bytes] = field(default_factory=dict)  # span id → the span's bytes
    # spans this backend always refuses (OTLP partial success): not stored, counted
    refuse: Callable[[Any], bool] | None = None
    refused: list[str] = field(default_factory=list)  # span ids refused, once per refusal
    resources: set[tuple[tuple[str, str], ...]] = field(default_factory=set)
    # realtrace's first contact is an export request without spans: answered OK and only
    # counted here, unless the test scripts it too (`script_probes`)
    probes: int = 0
    script_probes: bool = False

    def is_probe(self, req: ExportTraceServiceRequest) -> bool:
        if self.script_probes or any(
            ss.spans for rs in req.resource_spans for ss in rs.scope_spans
        ):
            return False
        with self.lock:
            self.probes += 1
        return True

    def store(self, req: ExportTraceServiceRequest) -> int:
        """Keep the request's spans; returns how many were refused."""
        n = 0
        for rs in req.resource_spans:
            self.resources.add(
                tuple(sorted((kv.key, kv.value.string_value) for kv in rs.resource.attributes))
            )
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    if self.refuse is not None and self.refuse(sp):
                        self.refused.append(sp.span_id.hex())
                        n += 1
                        continue
                    self.span_ids.append(sp.span_id.hex())
                    self.spans[sp.span_id.hex()] = sp.SerializeToString(deterministic=True)
                    self.trace_ids.add(sp.trace_id.hex())
        return n


class GrpcReceiver(Record):
    """grpcio server implementing the OTLP TraceService from opentelemetry-proto's stubs."""

    def __init__(
        self, script: Script | None = None, started: bool = True, max_receive: int | None = None
    ) -> None:
        super().__init__()
        self.script = script or (lambda n: OK)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.max_receive = max_receive
        self.server: grpc.Server | None = None
        self.n = 0
        if started:  # else down (connections refused) until the test calls start()
            self.start()

    def start(self) -> None:
        opts = [("grpc.max_receive_message_length", self.max_receive)] if self.max_receive else []
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=opts)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Servicer(self), server)
        server.add_insecure_port(f"127.0.0.1:{self.port}")
        server.start()
        self.server = server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(0)


class _Servicer(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, rec: GrpcReceiver) -> None:
        self.rec = rec

    def Export(
        self, request: ExportTraceServiceRequest, context: Any
    ) -> ExportTraceServiceResponse:
        if self.rec.is_probe(request):
            return ExportTraceServiceResponse()
        with self.rec.lock:
            self.rec.n += 1
            n = self.rec.n
            self.rec.times.append(time.monotonic())
            self.rec.headers.append(
                {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
            )
            self.rec.sizes.append(request.ByteSize())
        action = self.rec.script(n)
        time.sleep(action.delay)
        if action.grpc_code != grpc.StatusCode.OK:
            if action.retry_after is not None:
                info = error_details_pb2.RetryInfo()
                info.retry_delay.FromTimedelta(dt.timedelta(seconds=action.retry_after))
                st = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=action.message)
                st.details.add().Pack(info)
                context.set_trailing_metadata(
                    (("grpc-status-details-bin", st.SerializeToString()),)
                )
            context.abort(action.grpc_code, action.message or action.grpc_code.name)
        with self.rec.lock:
            rejected = action.rejected + self.rec.store(request)
        resp = ExportTraceServiceResponse()
        if rejected:
            resp.partial_success.rejected_spans = rejected
            resp.partial_success.error_message = action.message or "refused"
        return resp


class HttpReceiver(Record):
    """OTLP/HTTP protobuf receiver (`POST /v1/traces`, gzip accepted), like Braintrust's."""

    def __init__(
        self,
        script: Script | None = None,
        started: bool = True,
        max_body: int | None = None,
        path: str = "/v1/traces",
        attachments: bool = False,
        tls: tuple[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.script = script or (lambda n: OK)
        self.port = free_port()
        self.tls = tls  # (certificate, key) PEM files: serve HTTPS with them
        self.endpoint = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.max_body = max_body
        self.path = path
        # Braintrust's attachment API beside its OTLP endpoint (login, attachment, status) and
        # a loopback object store its signed URLs point at: PUT /signed/<key>
        self.attachments = attachments
        self.objects: dict[str, bytes] = {}
        self.statuses: dict[str, str] = {}
        self.api_calls: list[tuple[str, str, str | None]] = []  # method, route, authorization
        self.api_bodies: list[tuple[str, Any]] = []  # route, the JSON body of each POST
        # (route, n-th call of it) → HTTP status to answer (500s, a dead signed URL...), or
        # (status, headers): a 429 with its Retry-After
        self.api_script: Callable[[str, int], int | tuple[int, dict[str, str]]] = lambda route, n: (
            200
        )
        # what the login answers (Braintrust's `org_info`; a second org with its own api_url)
        self.login_answer: Any = {"org_info": [{"id": "org_test", "name": "acme"}]}
        # the signed URL for an attachment key: this receiver's /signed/<key> by default, or
        # a real object store's presigned PUT URL
        self.sign: Callable[[str], str] | None = None
        self.n = 0
        self.httpd: ThreadingHTTPServer | None = None
        if started:  # else down (connections refused) until the test calls start()
            self.start()

    def start(self) -> None:
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(
                self,
                code: int,
                body: bytes = b"",
                headers: dict[str, str] | None = None,
                content_type: str = "application/x-protobuf",
            ) -> None:
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _probe(self, body: bytes) -> bool:
                """An export request with no spans (realtrace's first contact): OK."""
                try:
                    raw = (
                        gzip.decompress(body)
                        if self.headers.get("content-encoding") == "gzip"
                        else body
                    )
                    req = ExportTraceServiceRequest()
                    if self.headers.get("content-type") == "application/json":
                        json_format.Parse(raw, req)
                    else:
                        req.ParseFromString(raw)
                except Exception:
                    return False
                if not rec.is_probe(req):
                    return False
                self._reply(200, ExportTraceServiceResponse().SerializeToString())
                return True

            def _api(self, method: str, body: bytes) -> bool:
                """Braintrust's attachment flow, when this receiver plays Braintrust."""
                route = self.path.split("?")[0]
                if not rec.attachments or not route.startswith(
                    ("/api/apikey/login", "/attachment", "/signed/")
                ):
                    return False
                kind = "/signed" if route.startswith("/signed/") else route
                with rec.lock:
                    rec.api_calls.append((method, kind, self.headers.get("authorization")))
                    n = sum(1 for m, r, _ in rec.api_calls if r == kind)
                scripted = rec.api_script(kind, n)
                status, hdrs = scripted if isinstance(scripted, tuple) else (scripted, {})
                if status != 200:
                    self._reply(status, b"scripted failure", hdrs, content_type="text/plain")
                    return True
                doc = json.loads(body) if body and method == "POST" else {}
                if method == "POST":
                    with rec.lock:
                        rec.api_bodies.append((kind, doc))
                if route == "/api/apikey/login":
                    answer: Any = rec.login_answer
                elif route == "/attachment":
                    url = (
                        rec.sign(doc["key"])
                        if rec.sign is not None
                        else f"{rec.endpoint}/signed/{doc['key']}?sig=secret-signature"
                    )
                    answer = {"signedUrl": url, "headers": {"x-test-signed": "1"}}
                elif route == "/attachment/status":
                    with rec.lock:
                        rec.statuses[doc["key"]] = doc["status"]["upload_status"]
                    answer = {}
                else:  # the signed URL: the object itself
                    with rec.lock:
                        rec.objects[route.removeprefix("/signed/")] = body
                    answer = {}
                self._reply(200, json.dumps(answer).encode(), content_type="application/json")
                return True

            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if not self._api("PUT", body):
                    self._reply(404, b"not found")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self._api("POST", body):
                    return
                if self.path == rec.path and self._probe(body):
                    return
                with rec.lock:
                    rec.n += 1
                    n = rec.n
                    rec.times.append(time.monotonic())
                    rec.headers.append({k.lower(): v for k, v in self.headers.items()})
                    rec.sizes.append(len(body))
                if self.path != rec.path:
                    self._reply(404, b"not found")
                    return
                if rec.max_body is not None and len(body) > rec.max_body:
                    self._reply(413, b"request entity too large")
                    return
                action = rec.script(n)
                time.sleep(action.delay)
                if action.html is not None:
                    self._reply(200, action.html.encode(), content_type="text/html")
                    return
                if action.http_status != 200:
                    hdrs = (
                        {"retry-after": f"{action.retry_after:g}"}
                        if action.retry_after is not None
                        else {}
                    )
                    self._reply(action.http_status, action.message.encode(), hdrs)
                    return
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                as_json = self.headers.get("content-type") == "application/json"
                req = ExportTraceServiceRequest()
                if as_json:  # OTLP/JSON (http/json)
                    json_format.Parse(body, req)
                else:
                    req.ParseFromString(body)
                with rec.lock:
                    rejected = action.rejected + rec.store(req)
                resp = ExportTraceServiceResponse()
                if rejected:
                    resp.partial_success.rejected_spans = rejected
                    resp.partial_success.error_message = action.message or "refused"
                if as_json:
                    answer = json_format.MessageToJson(resp).encode()
                    self._reply(200, answer, content_type="application/json")
                else:
                    self._reply(200, resp.SerializeToString())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        if self.tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        # a short poll: `stop` waits for the loop to notice (0.5 s by default, per receiver)
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()


class DripReceiver:
    """A server that answers one byte a second, forever: each read succeeds, so a per-read
    timeout never fires. With `answer_first`, the first request (realtrace's first
    contact) gets a proper OTLP answer and only the requests after it drip."""

    def __init__(self, answer_first: bool = False) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self.requests = 0
        self.answer_first = answer_first
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read_request(self, conn: socket.socket) -> bool:
        """One HTTP request, headers and body; False when the client went away."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            body += chunk
        return True

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                while self._read_request(conn):
                    self.requests += 1
                    if self.answer_first and self.requests == 1:
                        conn.sendall(
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n"
                            b"content-length: 0\r\n\r\n"
                        )
                        continue
                    self._drip(conn)
                    return
            except OSError:
                return

    def _drip(self, conn: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\n" * 1000:
            if self.stopped.wait(1.0):
                return
            conn.sendall(bytes([byte]))

    def stop(self) -> None:
        self.stopped.set()
        self.sock.close()


def make_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A certificate authority of this test's own and a server certificate it signed for
    127.0.0.1: (CA, certificate, key) PEM files. Nothing else on the machine trusts the CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("realtrace test CA"))
        .issuer_name(name("realtrace test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = (folder / "ca.pem", folder / "server.pem", folder / "server.key")
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(cert.public_bytes(pem))
    paths[2].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths
