"""A real RFC 3161 timestamp authority on 127.0.0.1 for tests: Debian's ``openssl ts -reply``.

``LocalTSA(folder)`` makes a root CA and a TSA certificate (extendedKeyUsage critical,
timeStamping) with the ``openssl`` command, and serves ``POST /`` on a free port: the
request body (a DER TimeStampReq) is handed to ``openssl ts -reply`` and its DER
TimeStampResp sent back as ``application/timestamp-reply``. ``tsa.url``, ``tsa.ca_pem``
(the root to trust), ``tsa.hits``; ``tsa.down()`` makes it refuse connections::

    with LocalTSA(tmp_path / "tsa") as tsa:
        ...  # [settings] tsa_urls = [tsa.url], tsa_certs = [str(tsa.ca_pem)]
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")

_EXT = """\
[tsa_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""
_CONF = """\
[tsa]
default_tsa = tsa_config1
[tsa_config1]
serial = {folder}/serial
crypto_device = builtin
signer_cert = {folder}/tsa.pem
signer_key = {folder}/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _openssl(*args: str, cwd: Path) -> bytes:
    assert OPENSSL is not None
    done = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


def make_tsa(folder: Path, name: str = "Test TSA", *, days: int = 30) -> None:
    """A root CA (``ca.pem``) and a TSA certificate and key signed by it, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ext.cnf").write_text(_EXT)
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(_CONF.format(folder=folder))
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
             "-subj", f"/CN={name} Root", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)  # fmt: skip
    _openssl("req", *ec, "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", f"/CN={name}",
             cwd=folder)  # fmt: skip
    _openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "tsa.pem", "-days", str(days), "-extfile", "ext.cnf",
             "-extensions", "tsa_ext", cwd=folder)  # fmt: skip


class LocalTSA:
    """``openssl ts -reply`` behind HTTP on 127.0.0.1 (a free port), in a daemon thread."""

    def __init__(self, folder: Path, name: str = "Test TSA") -> None:
        self.folder = folder
        make_tsa(folder, name)
        self.ca_pem = folder / "ca.pem"
        self.tsa_pem = folder / "tsa.pem"
        self.hits = 0
        self._lock = threading.Lock()
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                query = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with tsa._lock:
                    tsa.hits += 1
                    body = tsa.reply(query)
                self.send_response(200 if body else 500)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reply(self, query: bytes) -> bytes:
        """The DER TimeStampResp openssl gives for a DER TimeStampReq (b"" if it fails)."""
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "q.tsq").write_bytes(query)
            try:
                _openssl("ts", "-reply", "-config", str(self.folder / "tsa.cnf"),
                         "-queryfile", "q.tsq", "-out", "r.tsr", cwd=Path(tmp))  # fmt: skip
            except RuntimeError:
                return b""
            return (Path(tmp) / "r.tsr").read_bytes()

    def down(self) -> None:
        """Stop serving: connections are refused from now on."""
        self.server.shutdown()
        self.server.server_close()

    def close(self) -> None:
        if self.thread.is_alive():
            self.down()

    def __enter__(self) -> LocalTSA:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def free_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (a TSA that is down)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
