"""URLs as sources.toml gives them: the one check, shared by ``check`` and ``fetch``.

A URL that passes :func:`url_problem` here is one the capture stage accepts, so
`citearchive check` and `citearchive fetch` can never disagree about a URL.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit, urlunsplit

import httpx

MAX_URL_LENGTH = 8192  # longer is no citation; most servers refuse past 8 KB anyway
MAX_PORT = 65535  # TCP ports are 16-bit


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be fetched (not http(s), no host, malformed), or None.

    The one URL check: sources.toml validation calls it too, so a URL that passes
    `citearchive check` is one `fetch` accepts.
    """
    if len(url) > MAX_URL_LENGTH:
        return f"longer than {MAX_URL_LENGTH} characters"
    try:
        parsed = httpx.URL(request_url(url))
        host = parsed.host  # decodes an IDNA host: an invalid label ("xn--zz") fails here
    except Exception as exc:  # httpx raises InvalidURL, IDNAError, ValueError, ...
        return str(exc) or type(exc).__name__
    if parsed.scheme not in ("http", "https"):
        return f"scheme {parsed.scheme or '(none)'!r} is not http or https"
    if not host:
        return "no host"
    if parsed.port is not None and not 1 <= parsed.port <= MAX_PORT:
        return f"port {str(parsed.port)[:20]} is out of range (1 to {MAX_PORT})"
    if parsed.userinfo:
        return "it carries a user name or password (they would be archived with the URL)"
    return None


def request_url(url: str) -> str:
    """The URL as requested: the host in NFKC form, as browsers map it (UTS 46), so a
    footnote's ＥＸＡＭＰＬＥ.com or 例え.ＪＰ written in full-width letters still works."""
    parts = urlsplit(url)
    netloc = unicodedata.normalize("NFKC", parts.netloc)
    return url if netloc == parts.netloc else urlunsplit(parts._replace(netloc=netloc))


def short_url(url: str, limit: int = 200) -> str:
    """A URL cut for messages: a hostile 100 KB URL is not printed back whole."""
    return url if len(url) <= limit else url[: limit - 1] + "…"
