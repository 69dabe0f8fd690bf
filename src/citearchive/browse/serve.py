"""The server behind ``citearchive serve``: Datasette over the archive, read-only.

``serve(archive_root)`` opens ``archive/citearchive.db`` read-only (immutable, like
``datasette -i``) with the metadata of :func:`datasette_metadata` and the citearchive
plugin, on 127.0.0.1 unless a host is asked for explicitly (then with a warning: Datasette
has no login, whoever reaches the port reads the whole archive). Plain
``datasette archive/citearchive.db`` works too: the tables and views make sense alone.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..archive.store import DB_NAME, Archive
from ..archive.views import create_views
from ..errors import UsageError
from .metadata import DATASETTE_SETTINGS, datasette_metadata

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8001


def database_path(archive_root: str | Path) -> Path:
    """The archive's database, brought up to date (migrations, views) before serving."""
    archive = Archive.open(archive_root, create=False)
    try:
        create_views(archive.db)
    finally:
        archive.close()
    return Path(archive_root) / DB_NAME


def make_datasette(archive_root: str | Path, *, settings: dict[str, Any] | None = None) -> Any:
    """A Datasette instance over the archive: read-only, with metadata and the plugin."""
    from datasette.app import Datasette

    from .plugin import register

    register()
    path = str(database_path(archive_root))
    # Opened read-only (SQLite mode=ro), not immutable: an immutable database may not change
    # under Datasette, and one that does (a fetch while serving) read as "database disk
    # image is malformed" until a restart. Writes are refused by the plugin (405).
    return Datasette(
        [path],
        metadata=datasette_metadata(archive_root),
        settings={**DATASETTE_SETTINGS, **(settings or {})},
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_warning(host: str) -> str | None:
    """The warning to print when ``host`` makes the archive reachable from other machines."""
    if is_loopback(host):
        return None
    return (
        f"warning: serving on {host}: anyone who can reach this machine can read the whole "
        "archive (Datasette has no login here); the default 127.0.0.1 keeps it to you"
    )


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def allowed_hosts(host: str) -> frozenset[str] | None:
    """The Host header values a server bound to ``host`` answers (None: any).

    On loopback only the loopback names: a web page the user visits could otherwise point
    a name of its own at 127.0.0.1 (DNS rebinding) and read the archive through the
    browser. A server bound elsewhere was exposed on purpose (with a warning)."""
    if not is_loopback(host):
        return None
    return LOOPBACK_NAMES | {host.strip("[]").lower()}


def host_guard(app: Any, allowed: frozenset[str] | None) -> Any:
    """ASGI middleware: 421 for a request whose Host header names another host."""
    if allowed is None:
        return app
    from .plugin import send_plain

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and _host_name(scope) not in allowed:
            await send_plain(send, 421, "Misdirected request: unexpected Host header.\n")
            return
        await app(scope, receive, send)

    return guarded


def _host_name(scope: dict[str, Any]) -> str:
    """The host name of the request's Host header, without the port, lower case."""
    raw = next((v for k, v in scope.get("headers") or [] if k.lower() == b"host"), b"")
    value = raw.decode("latin-1").strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free port), or a UsageError."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; try another --port"
        ) from None
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def serve(
    archive_root: str | Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    warn: Callable[[str], None] = _stderr,
    on_ready: Callable[[str], None] = _stderr,
    log_level: str = "warning",
) -> None:
    """Serve the archive in Datasette until interrupted.

    ``on_ready`` gets the URL once the socket listens (port 0 picks a free port); ``warn``
    gets the warning of :func:`bind_warning`.
    """
    import uvicorn

    warning = bind_warning(host)
    if warning:
        warn(warning)
    ds = make_datasette(archive_root)
    sock = bind_socket(host, port)
    on_ready(f"serving {Path(archive_root) / DB_NAME} read-only at {_url(sock)}")
    app = host_guard(ds.app(), allowed_hosts(host))
    config = uvicorn.Config(app, log_level=log_level, lifespan="on")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
