"""The DICOMweb session: credentials from the environment only, TLS verified unless asked,
bounded retries with backoff, and one-line errors naming the URL (never a credential)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from mammorcnn.engine.dicomweb import client as dw
from mammorcnn.errors import ConfigError, InputError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (dw.USER_ENV, dw.PASSWORD_ENV, dw.TOKEN_ENV):
        monkeypatch.delenv(name, raising=False)


def test_basic_credentials_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(dw.USER_ENV, "alice")
    monkeypatch.setenv(dw.PASSWORD_ENV, "pw-123")
    session = dw.connect("https://pacs.example/dicom-web/").client._session
    assert session.auth == ("alice", "pw-123") and "Authorization" not in session.headers
    assert session.verify is True


def test_bearer_token_from_the_environment(monkeypatch):
    monkeypatch.setenv(dw.TOKEN_ENV, "tok-456")
    server = dw.connect("https://pacs.example/dicom-web")
    assert server.client._session.headers["Authorization"] == "Bearer tok-456"
    assert server.client._session.auth is None and server.url == "https://pacs.example/dicom-web"


@pytest.mark.parametrize(
    "env, problem",
    [({dw.USER_ENV: "a"}, "must be set together"),
     ({dw.PASSWORD_ENV: "p"}, "must be set together"),
     ({dw.TOKEN_ENV: "t", dw.USER_ENV: "a", dw.PASSWORD_ENV: "p"}, "not both")],
)  # fmt: skip
def test_incomplete_or_conflicting_credentials_are_refused(monkeypatch, env, problem):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=problem):
        dw.connect("http://pacs.example")


def test_credentials_in_the_url_are_refused_without_showing_them():
    with pytest.raises(ConfigError) as info:
        dw.connect("https://bob:hunter2@pacs.example/dicom-web")
    assert "hunter2" not in str(info.value) and dw.USER_ENV in str(info.value)


@pytest.mark.parametrize("url", ["ftp://pacs.example", "pacs.example/dicom-web", "http://"])
def test_not_an_http_url(url):
    with pytest.raises(ConfigError, match="not an http"):
        dw.connect(url)


def test_insecure_is_explicit_and_warned(caplog):
    with caplog.at_level(logging.WARNING, logger="mammorcnn.dicomweb"):
        session = dw.connect("https://pacs.example", insecure=True).client._session
    assert session.verify is False
    assert any("NOT verified" in r.getMessage() for r in caplog.records)


class _Listener:
    """A TCP server on 127.0.0.1 that counts connections and then either closes them at once
    (a server crashing on every request) or holds them without answering (one that hangs)."""

    def __init__(self, answer: bool) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.answer, self.count, self.held = answer, 0, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.count += 1
            if self.answer:
                conn.recv(65536)
                conn.close()
            else:
                self.held.append(conn)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.fixture
def listener(request) -> Iterator[_Listener]:
    server = _Listener(answer=request.param)
    yield server
    server.close()


@pytest.mark.parametrize("listener", [True], indirect=True)
def test_dropped_connections_are_retried_a_bounded_number_of_times(listener, monkeypatch):
    monkeypatch.setattr(dw, "BACKOFF", 0.05)
    server = dw.connect(f"http://127.0.0.1:{listener.port}/dicom-web")
    start = time.monotonic()
    with pytest.raises(dw.ServerError) as info, dw.server_errors(server, "QIDO-RS search"):
        server.client.search_for_studies()
    elapsed = time.monotonic() - start
    assert listener.count == dw.RETRIES + 1
    # urllib3 waits 0, 2b, 4b, 8b between the attempts (b = BACKOFF)
    assert elapsed >= 0.05 * (2 + 4 + 8)
    message = str(info.value)
    assert message.startswith(f"http://127.0.0.1:{listener.port}/dicom-web: QIDO-RS search")
    assert f"{dw.RETRIES + 1} attempts" in message and "\n" not in message


@pytest.mark.parametrize("listener", [False], indirect=True)
def test_a_server_that_does_not_answer_times_out(listener, monkeypatch):
    monkeypatch.setattr(dw, "BACKOFF", 0.01)
    server = dw.connect(f"http://127.0.0.1:{listener.port}", timeout=0.2)
    with pytest.raises(dw.ServerError, match=r"no answer within 0.2 s, 5 attempts"):
        with dw.server_errors(server, "QIDO-RS search"):
            server.client.search_for_studies()
    assert listener.count == dw.RETRIES + 1


def test_nothing_listening(monkeypatch):
    monkeypatch.setattr(dw, "BACKOFF", 0.01)
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = dw.connect(f"http://127.0.0.1:{port}")
    with pytest.raises(dw.ServerError, match="server not reachable \\(connection refused\\)"):
        with dw.server_errors(server, "QIDO-RS search"):
            server.client.search_for_studies()


def test_server_errors_are_fatal_even_with_skip_bad():
    """--skip-bad skips bad images; the CLI asks ``fatal`` to tell a dead server apart."""
    assert dw.ServerError("u", "p").fatal is True and not getattr(InputError("u", "p"), "fatal", 0)


@pytest.fixture
def https_server(tmp_path) -> Iterator[tuple[str, str]]:
    """A local HTTPS server with a self-signed certificate that answers QIDO-RS with []."""
    import shutil
    import ssl
    import subprocess
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed to make a test certificate)")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}/dicom-web", str(cert)
    httpd.shutdown()
    httpd.server_close()


def test_tls_certificates_are_verified(https_server, monkeypatch):
    url, cert = https_server
    monkeypatch.setattr(dw, "BACKOFF", 0.01)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    server = dw.connect(url)
    with pytest.raises(dw.ServerError, match="TLS certificate verification failed"):
        with dw.server_errors(server, "QIDO-RS search"):
            server.client.search_for_studies()
    assert dw.connect(url, insecure=True).client.search_for_studies() == []
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)  # the private CA, verification still on
    assert dw.connect(url).client.search_for_studies() == []
