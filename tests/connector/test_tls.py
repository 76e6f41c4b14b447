"""HTTPS: certificates are verified, with one TLS context shared by every client."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncd._secret import Secret
from syncd.connector import Connector, TransportError
from syncd.connector._connector import _tls_context

pytestmark = pytest.mark.anyio


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 whose certificate no CA signed."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    # shutdown() waits for the loop to look at its flag: every 0.05 s, not the default 0.5 s
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_a_certificate_no_ca_signed_is_refused(self_signed_server: str, make_spec: Any) -> None:
    spec = make_spec(retry={"max_attempts": 1})
    settings = {"url": self_signed_server, "token": Secret("t", "${env:TOKEN}")}
    async with Connector(spec, "contacts", settings) as c:
        with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
            await c.get("1")


async def test_every_connector_shares_one_tls_context_made_at_the_first_https_connection(
        self_signed_server: str, make_spec: Any, sample_app: Any) -> None:
    app = sample_app(n=1)
    spec = make_spec(retry={"max_attempts": 1})
    _tls_context()  # built once (or already)
    before = _tls_context.cache_info()
    async with Connector(spec, "contacts", {"url": app.url, "token": Secret(app.token, "${env:TOKEN}")}) as c:
        await c.get("1000000")  # plain HTTP: no TLS context asked for
    assert _tls_context.cache_info() == before
    for _ in range(3):
        settings = {"url": self_signed_server, "token": Secret("t", "${env:TOKEN}")}
        async with Connector(spec, "contacts", settings) as c:
            with pytest.raises(TransportError):
                await c.get("1")
    after = _tls_context.cache_info()
    assert after.misses == before.misses and after.hits == before.hits + 3
    assert _tls_context().verify_mode == ssl.CERT_REQUIRED and _tls_context().check_hostname
