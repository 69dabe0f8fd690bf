"""Named defaults, in one place, and the one function that resolves them.

Every limit citearchive applies to the network lives here. ``sources.toml``
(``[settings]``) and command-line flags override them; ``resolve_settings``
applies the overrides in that order (defaults < sources.toml < flags).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

from . import __version__

DEFAULT_USER_AGENT = (
    f"citearchive/{__version__} (+https://pypi.org/project/citearchive/; citation archiver)"
)
DEFAULT_CONNECT_TIMEOUT = 10.0  # seconds to open a TCP/TLS connection
DEFAULT_READ_TIMEOUT = 30.0  # seconds of silence tolerated while reading
DEFAULT_DEADLINE = 60.0  # seconds for one whole capture, all hops and retries included
DEFAULT_MAX_BYTES = 50_000_000  # decoded body size cap
DEFAULT_MAX_REDIRECTS = 10
DEFAULT_MAX_ATTEMPTS = 3  # attempts per URL, the first included
DEFAULT_BACKOFF = 1.0  # first retry delay in seconds; doubles each attempt
DEFAULT_MAX_RETRY_AFTER = 30.0  # cap on a server's Retry-After
DEFAULT_CONCURRENCY = 8  # captures in flight at once
DEFAULT_PER_HOST = 2  # captures in flight per host
DEFAULT_HOST_DELAY = 1.0  # seconds between two requests to one host
DEFAULT_WARC_GZIP_LEVEL = 1  # level 9 costs ~8 ms a page for little gain
# Fallback to existing web archives when the live page and its alternates fail.
DEFAULT_FALLBACK = True
# Memento (RFC 7089) endpoints: the original URL is appended to each prefix. The Time
# Travel aggregator asks many archives at once; "" turns a mechanism off.
DEFAULT_MEMENTO_TIMEMAP = "http://timetravel.mementoweb.org/timemap/link/"
DEFAULT_MEMENTO_TIMEGATE = "http://timetravel.mementoweb.org/timegate/"
# The Wayback Machine's availability API (?url=...&timestamp=YYYYMMDDhhmmss is added).
DEFAULT_WAYBACK_AVAILABLE = "https://archive.org/wayback/available"
DEFAULT_FALLBACK_TRIES = 3  # mementos tried per source, closest first
# RFC 3161 timestamp authorities asked to timestamp each run's manifest (archive/timestamps.py):
# two free public TSAs whose certificates chain to roots in the usual system trust stores.
# The environment variable CITEARCHIVE_TSA_URLS (space-separated; empty: off) replaces this
# default for a whole machine or a test session; sources.toml and flags override both.
DEFAULT_TSA_URLS: tuple[str, ...] = (
    "http://timestamp.digicert.com",
    "http://timestamp.sectigo.com",
)
TSA_URLS_ENV = "CITEARCHIVE_TSA_URLS"
DEFAULT_TSA_TIMEOUT = 10.0  # seconds for all TSAs of one run together; a run never waits longer


def default_browser_path() -> str:
    """The first of ``DEFAULT_BROWSER_PATHS`` that is installed (else the last)."""
    return next((p for p in DEFAULT_BROWSER_PATHS if os.path.isfile(p)), DEFAULT_BROWSER_PATH)


def default_tsa_urls() -> tuple[str, ...]:
    """The TSAs used when sources.toml names none: the environment's, else the defaults."""
    env = os.environ.get(TSA_URLS_ENV)
    return DEFAULT_TSA_URLS if env is None else tuple(env.split())


# Resolving unresolved sources in a web archive's index (citearchive resolve).
DEFAULT_WAYBACK_CDX = "https://web.archive.org/cdx/search/cdx"  # CDX server API
DEFAULT_WAYBACK_REPLAY = "https://web.archive.org/web/"  # + <timestamp>id_/<url>
# Reading a commentary PDF (citearchive import commentary.pdf).
COMMENTARY_MAX_PAGES = 500  # pages read before the rest of a commentary PDF is ignored
# Extraction is bounded like the download (issue 10): a page's markup larger than this is
# archived and hashed but not handed to the extractor (trafilatura needs ~15x the markup in
# memory); one extraction job may take this long; one worker may grow its address space by
# this much (a 5 MB article page needs ~80 MB). A worker over a limit is killed and replaced; the
# capture says why (error_kind "extract").
DEFAULT_EXTRACT_MAX_MARKUP = 5_000_000  # bytes of decoded HTML or text
DEFAULT_EXTRACT_TIMEOUT = 60.0  # seconds for one page's extraction
DEFAULT_EXTRACT_MAX_MEMORY = 120_000_000  # bytes of address space a worker may add
MAX_USER_AGENT_LENGTH = 1000
# Capture in a real browser (headless Chromium): for sources with capture = "browser", for
# every source with `fetch --browser`, and for pages whose HTTP capture is a JavaScript shell.
DEFAULT_BROWSER = False  # every source in the browser too
DEFAULT_BROWSER_AUTO = True  # a JavaScript shell gets a browser capture when Chromium is there
# Debian's packages, in order of preference: chromium-headless-shell (the same engine without
# the browser's user interface: a third less CPU and memory a page, benchmarks/browser_bench.py),
# then chromium. The first one installed is the default.
DEFAULT_BROWSER_PATHS = ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium")
DEFAULT_BROWSER_PATH = DEFAULT_BROWSER_PATHS[-1]
DEFAULT_BROWSER_CONCURRENCY = 2  # pages open at once
DEFAULT_BROWSER_DEADLINE = 30.0  # seconds for one page: load, idle, scroll, screenshot, DOM
DEFAULT_BROWSER_IDLE_WAIT = 5.0  # seconds to wait for the network to go quiet, at most
DEFAULT_BROWSER_MAX_RESOURCES = 300  # requests one page may make; later ones are refused
DEFAULT_BROWSER_MAX_BYTES = 50_000_000  # bytes of responses one page may receive
DEFAULT_SCREENSHOT_MAX_HEIGHT = 16_384  # pixels; a longer page is shot down to here


@dataclass(frozen=True)
class Settings:
    """Everything that bounds a capture run. Immutable; use ``resolve_settings``."""

    user_agent: str = DEFAULT_USER_AGENT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    deadline: float = DEFAULT_DEADLINE
    max_bytes: int = DEFAULT_MAX_BYTES
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff: float = DEFAULT_BACKOFF
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    concurrency: int = DEFAULT_CONCURRENCY
    per_host: int = DEFAULT_PER_HOST
    host_delay: float = DEFAULT_HOST_DELAY
    warc_gzip_level: int = DEFAULT_WARC_GZIP_LEVEL
    fallback: bool = DEFAULT_FALLBACK
    memento_timemap: str = DEFAULT_MEMENTO_TIMEMAP
    memento_timegate: str = DEFAULT_MEMENTO_TIMEGATE
    wayback_available: str = DEFAULT_WAYBACK_AVAILABLE
    fallback_tries: int = DEFAULT_FALLBACK_TRIES
    tsa_urls: tuple[str, ...] = field(default_factory=default_tsa_urls)
    tsa_certs: tuple[str, ...] = ()  # PEM files of TSA roots trusted besides the system's
    tsa_timeout: float = DEFAULT_TSA_TIMEOUT
    wayback_cdx: str = DEFAULT_WAYBACK_CDX
    wayback_replay: str = DEFAULT_WAYBACK_REPLAY
    extract_max_markup: int = DEFAULT_EXTRACT_MAX_MARKUP
    extract_timeout: float = DEFAULT_EXTRACT_TIMEOUT
    extract_max_memory: int = DEFAULT_EXTRACT_MAX_MEMORY
    browser: bool = DEFAULT_BROWSER
    browser_auto: bool = DEFAULT_BROWSER_AUTO
    browser_path: str = field(default_factory=default_browser_path)
    browser_concurrency: int = DEFAULT_BROWSER_CONCURRENCY
    browser_deadline: float = DEFAULT_BROWSER_DEADLINE
    browser_idle_wait: float = DEFAULT_BROWSER_IDLE_WAIT
    browser_max_resources: int = DEFAULT_BROWSER_MAX_RESOURCES
    browser_max_bytes: int = DEFAULT_BROWSER_MAX_BYTES
    screenshot_max_height: int = DEFAULT_SCREENSHOT_MAX_HEIGHT


SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Settings))
SETTING_TYPES: dict[str, type] = {
    f.name: type(getattr(Settings(), f.name)) for f in fields(Settings)
}
# The values each number may take (inclusive); sources.toml is checked against them.
SETTING_RANGES: dict[str, tuple[float, float]] = {
    "connect_timeout": (0.1, 600), "read_timeout": (0.1, 3600), "deadline": (0.1, 86400),
    "max_bytes": (1, 10**12), "max_redirects": (0, 100), "max_attempts": (1, 20),
    "backoff": (0, 600), "max_retry_after": (0, 86400), "concurrency": (1, 1000),
    "per_host": (1, 100), "host_delay": (0, 3600), "warc_gzip_level": (0, 9),
    "fallback_tries": (1, 20), "tsa_timeout": (0.1, 600),
    "extract_max_markup": (1, 10**10), "extract_timeout": (0.1, 86400),
    "extract_max_memory": (50_000_000, 10**13),
    "browser_concurrency": (1, 32), "browser_deadline": (1, 3600),
    "browser_idle_wait": (0, 600), "browser_max_resources": (1, 100_000),
    "browser_max_bytes": (1, 10**12), "screenshot_max_height": (100, 100_000),
}  # fmt: skip
# Settings that are lists of strings in sources.toml (tuples here); endpoints among them
# hold http(s) URLs, path lists files relative to sources.toml.
LIST_SETTINGS: tuple[str, ...] = ("tsa_urls", "tsa_certs")
# Settings that name a web service: an http(s) URL, or "" for "do not use".
ENDPOINT_SETTINGS: tuple[str, ...] = (
    "memento_timemap", "memento_timegate", "wayback_available", "wayback_cdx", "wayback_replay",
)  # fmt: skip


def user_agent_problem(value: str) -> str | None:
    """Why ``value`` cannot be sent as a User-Agent header, or None.

    A header value is bytes on the wire: printable ASCII only (no CR/LF, which would end the
    header, no control characters, no letters httpx cannot encode).
    """
    if not value.strip():
        return "must not be empty"
    if len(value) > MAX_USER_AGENT_LENGTH:
        return f"must be at most {MAX_USER_AGENT_LENGTH} characters"
    bad = next((c for c in value if not " " <= c <= "~"), None)
    if bad is not None:
        return f"must be printable ASCII (an HTTP header cannot carry {bad!r})"
    return None


def resolve_settings(*layers: dict[str, Any] | None) -> Settings:
    """Defaults, then each layer in order (``None`` values are ignored)."""
    settings = Settings()
    for layer in layers:
        if not layer:
            continue
        given = {k: v for k, v in layer.items() if v is not None}
        unknown = set(given) - set(SETTING_NAMES)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        settings = replace(settings, **given)
    return settings


# --- input files (issue 10, F11/F12) ------------------------------------------------------
# sources.toml and commentary files are read whole: they must be regular files (not a
# device, a FIFO or a directory) and no larger than these.
MAX_MANIFEST_BYTES = 20_000_000
MAX_COMMENTARY_BYTES = 20_000_000
