"""HTTPS provenance: the certificate the server showed is recorded; a bad one is refused.

The server is a real TLS server on 127.0.0.1 with a certificate from a throwaway ``trustme``
CA; the client trusts that CA only when the test hands it the CA's context.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl

from citearchive.capture.fetch import FetchResult, fetch, make_client
from citearchive.config import Settings
from localserver import LocalServer, local_ca, redirect, respond, tls_server

__all__ = ["local_ca", "tls_server"]  # fixtures, imported for pytest

SETTINGS = Settings(connect_timeout=2.0, read_timeout=5.0, deadline=10.0, backoff=0.01)


def run(url: str, verify: bool | ssl.SSLContext) -> FetchResult:
    async def go() -> FetchResult:
        async with make_client(SETTINGS, verify=verify) as client:
            return await fetch(client, url, SETTINGS)

    return asyncio.run(go())


def presented_cert_sha256(server: LocalServer) -> str:
    """SHA-256 of the DER certificate the server presents, fetched on a separate connection."""
    pem = ssl.get_server_certificate(("127.0.0.1", server.port))
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def test_trusted_certificate_is_recorded(tls_server: LocalServer) -> None:
    tls_server.route("/report", respond("<p>Доклад</p>".encode()))

    result = run(tls_server.url("/report"), tls_server.client_ssl_context())

    assert result.error is None
    assert result.body == "<p>Доклад</p>".encode()
    assert result.peer_ip == "127.0.0.1"
    tls = result.tls
    assert tls is not None
    assert tls["sha256"] == presented_cert_sha256(tls_server)
    assert "trustme" in (tls["issuer"] or "")
    assert tls["subject"] is not None
    assert "127.0.0.1" in tls["subject_alt_names"]
    assert tls["not_before"] < tls["not_after"]
    assert tls["version"] in ("TLSv1.2", "TLSv1.3")
    assert tls["cipher"]
    assert result.exchanges[0].tls == tls


def test_untrusted_certificate_is_a_tls_error_and_not_retried(tls_server: LocalServer) -> None:
    tls_server.route("/", respond(b"secret"))

    result = run(tls_server.url("/"), True)  # the system's CAs: trustme's CA is not among them

    assert result.error_kind == "tls"
    assert (result.error or "").startswith("TLS error: certificate verify failed")
    assert result.status_code is None and result.body == b""
    assert result.attempts == 1 and len(result.exchanges) == 1
    assert tls_server.hits("/") == 0  # no request went through


def test_unverified_connection_still_records_the_certificate_digest(
    tls_server: LocalServer,
) -> None:
    tls_server.route("/", respond(b"ok"))

    result = run(tls_server.url("/"), False)

    assert result.error is None
    assert result.tls is not None
    assert len(result.tls["sha256"]) == 64
    assert result.tls["subject"] is None  # Python parses only certificates it validated


def test_each_hop_keeps_its_own_provenance(tls_server: LocalServer) -> None:
    with LocalServer() as plain:
        tls_server.route("/old", redirect(plain.url("/new")))
        plain.route("/new", respond(b"moved to plain http"))

        result = run(tls_server.url("/old"), tls_server.client_ssl_context())

    assert result.error is None
    first, second = result.exchanges
    assert first.tls is not None and first.status_code == 302
    assert second.tls is None and second.peer_ip == "127.0.0.1"
    assert result.tls is None  # the final exchange's


def test_plain_http_to_a_tls_port_is_a_network_error(tls_server: LocalServer) -> None:
    result = run(f"http://127.0.0.1:{tls_server.port}/", True)

    assert result.error_kind == "network"
    assert result.status_code is None
