"""Read and validate ``sources.toml`` into plain, immutable objects.

The file is the hand-editable input of citearchive (format: README, "sources.toml
reference"). Every validation error is a :class:`~citearchive.errors.ManifestError`
naming the file, the line and the field, with a "did you mean" for near-miss keys.
A source without a URL is legal: it is *unresolved* and later stages report it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..config import (
    ENDPOINT_SETTINGS,
    LIST_SETTINGS,
    MAX_MANIFEST_BYTES,
    SETTING_NAMES,
    SETTING_RANGES,
    SETTING_TYPES,
    user_agent_problem,
)
from ..errors import ManifestError
from .inputfile import InputFileError, read_input
from .languages import ISO_639_1
from .urls import short_url, url_problem

MAX_FOOTNOTE = 100_000  # footnote numbers beyond this are typos, not footnotes
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")

DOCUMENT_KEYS = ("id", "title", "author", "publisher", "published", "language", "url", "file")
FOOTNOTE_KEYS = ("document", "number", "text", "accessed")
SOURCE_KEYS = (
    "id", "url", "title", "publisher", "published", "language", "footnote", "footnotes",
    "document", "quotes", "alternates", "notes", "domain",
    "document", "quotes", "alternates", "notes", "capture",
)  # fmt: skip
CAPTURE_METHODS = ("http", "browser")  # [[source]] capture: how fetch captures the source
CLAIM_KEYS = ("document", "footnote", "text")
PUBLISHER_KEYS = ("name", "domains")
TOP_KEYS = ("settings", "document", "footnote", "source", "claim", "publisher")
DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    author: str | None = None
    publisher: str | None = None
    published: str | None = None
    language: str | None = None
    url: str | None = None
    file: Path | None = None  # resolved against the manifest's folder


@dataclass(frozen=True)
class Footnote:
    document: str
    number: int
    text: str | None = None
    accessed: str | None = None


@dataclass(frozen=True)
class Source:
    id: str
    document: str
    footnotes: tuple[int, ...]
    url: str | None = None
    title: str | None = None
    publisher: str | None = None
    published: str | None = None
    language: str | None = None
    quotes: tuple[str, ...] = ()
    alternates: tuple[str, ...] = ()
    notes: str | None = None
    domain: str | None = None  # the site to search web archives under (citearchive resolve)
    # "browser": also capture in headless Chromium; "http": never (not even for a page that
    # looks like a JavaScript shell); None: HTTP, and the browser when the page needs it.
    capture: str | None = None

    @property
    def resolved(self) -> bool:
        """A source is resolved when a person (or import) gave it a URL."""
        return bool(self.url)


@dataclass(frozen=True)
class Publisher:
    """A ``[[publisher]]``: a name as footnotes print it and the domains it publishes on."""

    name: str
    domains: tuple[str, ...]


@dataclass(frozen=True)
class Claim:
    document: str
    footnote: int
    text: str
    index: int  # position among the document's claims, from 1


@dataclass(frozen=True)
class Manifest:
    path: Path
    documents: tuple[Document, ...] = ()
    footnotes: tuple[Footnote, ...] = ()
    sources: tuple[Source, ...] = ()
    claims: tuple[Claim, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    publishers: tuple[Publisher, ...] = ()

    def source(self, source_id: str) -> Source:
        for s in self.sources:
            if s.id == source_id:
                return s
        raise KeyError(source_id)

    def sources_for(self, document: str, footnote: int) -> list[Source]:
        return [s for s in self.sources if s.document == document and footnote in s.footnotes]

    @cached_property
    def all_footnotes(self) -> tuple[Footnote, ...]:
        """Every footnote of every document, by document and number.

        A footnote exists when a ``[[footnote]]`` entry or a ``[[source]]`` carries its
        number (a hand-written file with only sources and claims is complete); a number
        only a source carries is a Footnote without text. Every stage (check, verify,
        status, the archive's tables and views, the exports) asks this, never
        ``footnotes`` alone.
        """
        declared = {(f.document, f.number): f for f in self.footnotes}
        for s in self.sources:
            for n in s.footnotes:
                declared.setdefault((s.document, n), Footnote(document=s.document, number=n))
        order = {d.id: i for i, d in enumerate(self.documents)}
        return tuple(sorted(declared.values(), key=lambda f: (order.get(f.document, -1), f.number)))

    def has_footnote(self, document: str, number: int) -> bool:
        """Whether footnote ``number`` of ``document`` exists (see :attr:`all_footnotes`)."""
        return any(f.document == document and f.number == number for f in self.all_footnotes)

    def summary(self) -> dict[str, Any]:
        resolved = [s for s in self.sources if s.resolved]
        return {
            "file": str(self.path),
            "documents": len(self.documents),
            "footnotes": len(self.all_footnotes),
            "sources": len(self.sources),
            "resolved": len(resolved),
            "unresolved": len(self.sources) - len(resolved),
            "unresolved_ids": [s.id for s in self.sources if not s.resolved],
            "claims": len(self.claims),
            "quotes": sum(len(s.quotes) for s in self.sources),
        }


class _Locator:
    """Finds the line of a table or key in the TOML text, for error messages."""

    _header = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.-]+)\s*\]\]?")
    _key = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")

    def __init__(self, text: str) -> None:
        self.tables: dict[tuple[str, int], int] = {}
        self.keys: dict[tuple[str, int, str], int] = {}
        current: tuple[str, int] = ("", 0)
        counts: dict[str, int] = {}
        in_multiline = False
        for lineno, line in enumerate(text.splitlines(), start=1):
            if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                in_multiline = not in_multiline
                if not in_multiline:
                    continue
            elif in_multiline:
                continue
            if m := self._header.match(line):
                name = m.group(2)
                index = counts.get(name, 0)
                counts[name] = index + 1
                current = (name, index)
                self.tables[current] = lineno
            elif m := self._key.match(line):
                key = m.group(1).strip("\"'")
                self.keys.setdefault((current[0], current[1], key), lineno)

    def line(self, table: str, index: int, key: str | None = None) -> int | None:
        if key is not None and (table, index, key) in self.keys:
            return self.keys[(table, index, key)]
        return self.tables.get((table, index))


class _Reader:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.where = _Locator(text)

    def fail(self, table: str, index: int, key: str | None, message: str) -> ManifestError:
        label = f"[[{table}]] #{index + 1}" if table not in ("", "settings") else table
        fieldname = f"{label}.{key}" if key else label
        return ManifestError(
            message,
            path=self.path,
            line=self.where.line(table, index, key),
            field=fieldname or None,
        )

    def check_keys(self, table: str, index: int, entry: dict[str, Any], allowed: Iterable[str]):
        allowed = tuple(allowed)
        for key in entry:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise self.fail(
                    table, index, key,
                    f"unknown field '{key}'{hint} (allowed: {', '.join(allowed)})",
                )  # fmt: skip

    def string(self, table: str, i: int, entry: dict, key: str, *, required: bool = False):
        value = entry.get(key)
        if value is None:
            if required:
                raise self.fail(table, i, None, f"missing required field '{key}'")
            return None
        if isinstance(value, dt.date):
            return value.isoformat()
        if not isinstance(value, str):
            raise self.fail(table, i, key, f"must be a string, not {_tomltype(value)}")
        value = value.strip()
        if required and not value:
            raise self.fail(table, i, key, "must not be empty")
        return value or None

    def integer(self, table: str, i: int, entry: dict, key: str) -> int:
        value = entry.get(key)
        if value is None:
            raise self.fail(table, i, None, f"missing required field '{key}'")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(table, i, key, f"must be a whole number, not {_tomltype(value)}")
        if not 1 <= value <= MAX_FOOTNOTE:
            raise self.fail(table, i, key, f"must be from 1 to {MAX_FOOTNOTE}, not {value}")
        return value

    def strings(self, table: str, i: int, entry: dict, key: str) -> tuple[str, ...]:
        value = entry.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(table, i, key, "must be a list of strings")
        return tuple(v for v in value if v.strip())

    def ident(self, table: str, i: int, entry: dict) -> str:
        value = self.string(table, i, entry, "id", required=True)
        assert value is not None
        if not ID_RE.match(value):
            raise self.fail(
                table, i, "id",
                f"'{value}' is not a valid id: an id is ASCII letters and digits with '.', '_' "
                "or '-' (no spaces), starting with a letter or digit, e.g. 'fn2' or "
                "'kremlin-2024'",
            )  # fmt: skip
        return value

    def url(self, table: str, i: int, entry: dict, key: str, value: str | None = None):
        value = value if value is not None else self.string(table, i, entry, key)
        if not value:
            return None
        problem = url_problem(value)
        if problem is not None:
            raise self.fail(table, i, key, f"'{short_url(value)}' is not an http(s) URL: {problem}")
        return value

    def date(self, table: str, i: int, entry: dict, key: str) -> str | None:
        value = self.string(table, i, entry, key)
        if value and not DATE_RE.match(value):
            raise self.fail(table, i, key, f"'{value}' is not a date (YYYY, YYYY-MM or YYYY-MM-DD)")
        return value

    def language(self, table: str, i: int, entry: dict) -> str | None:
        value = self.string(table, i, entry, "language")
        if value and value.lower() not in ISO_639_1:
            raise self.fail(
                table, i, "language", f"'{value}' is not an ISO 639-1 code (e.g. ru, ja, en)"
            )
        return value.lower() if value else None


def _tomltype(value: Any) -> str:
    return {
        bool: "a boolean", int: "a number", float: "a number", str: "a string",
        list: "a list", dict: "a table",
    }.get(type(value), type(value).__name__)  # fmt: skip


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a sources.toml file. Raises ManifestError naming file:line and field."""
    path = Path(path)
    try:
        raw = read_input(path, MAX_MANIFEST_BYTES)
    except InputFileError as exc:
        raise ManifestError(str(exc), path=path) from None
    except IsADirectoryError:
        raise ManifestError("is a directory, not a sources.toml file", path=path) from None
    except FileNotFoundError:
        raise ManifestError(
            "file not found (create one with `citearchive import COMMENTARY`)", path=path
        ) from None
    except OSError as exc:
        raise ManifestError(f"cannot read: {exc.strerror}", path=path) from None
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark (Windows editors) is fine
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ManifestError(
            "not valid UTF-8 (save the file as UTF-8)", path=path, line=line
        ) from None
    return parse_manifest(text, path)


def parse_manifest(text: str, path: str | Path = "sources.toml") -> Manifest:
    """Validate TOML text as a sources.toml; ``path`` is used for messages and relative files."""
    path = Path(path)
    try:
        data = tomllib.loads(text)
    except RecursionError:  # tomllib recurses once per nesting level
        raise ManifestError("malformed TOML: nested too deeply", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column \d+\)", msg)
        line = int(m.group(1)) if m else None
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg)
        raise ManifestError(f"malformed TOML: {msg}", path=path, line=line) from None
    r = _Reader(path, text)
    for key in data:
        if key not in TOP_KEYS:
            close = difflib.get_close_matches(key, TOP_KEYS, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            line = r.where.line(key, 0) or r.where.line("", 0, key)
            raise ManifestError(
                f"unknown table '{key}'{hint} (allowed: {', '.join(TOP_KEYS)})",
                path=path, line=line, field=key,
            )  # fmt: skip
    for name in ("document", "footnote", "source", "claim", "publisher"):
        if name in data and not isinstance(data[name], list):
            raise ManifestError(
                f"'{name}' must be an array of tables: write [[{name}]], not [{name}]",
                path=path, line=r.where.line(name, 0), field=name,
            )  # fmt: skip

    settings = _settings(r, data.get("settings", {}))
    documents = _documents(r, data.get("document", []))
    default_doc = documents[0].id if len(documents) == 1 else None
    doc_ids = {d.id for d in documents}

    def doc_ref(table: str, i: int, entry: dict) -> str:
        value = r.string(table, i, entry, "document")
        if value is None:
            if default_doc is not None:
                return default_doc
            if not documents:
                return ""
            raise r.fail(table, i, None, "missing 'document' (required with several [[document]]s)")
        if value not in doc_ids:
            close = difflib.get_close_matches(value, sorted(doc_ids), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise r.fail(table, i, "document", f"no [[document]] has id '{value}'{hint}")
        return value

    footnotes: list[Footnote] = []
    seen_fn: dict[tuple[str, int], int] = {}
    for i, entry in enumerate(data.get("footnote", [])):
        r.check_keys("footnote", i, entry, FOOTNOTE_KEYS)
        fn = Footnote(
            document=doc_ref("footnote", i, entry),
            number=r.integer("footnote", i, entry, "number"),
            text=r.string("footnote", i, entry, "text"),
            accessed=r.date("footnote", i, entry, "accessed"),
        )
        if (fn.document, fn.number) in seen_fn:
            raise r.fail("footnote", i, "number", f"footnote {fn.number} is defined twice")
        seen_fn[(fn.document, fn.number)] = i
        footnotes.append(fn)

    sources: list[Source] = []
    seen_src: set[str] = set()
    for i, entry in enumerate(data.get("source", [])):
        r.check_keys("source", i, entry, SOURCE_KEYS)
        sid = r.ident("source", i, entry)
        if sid in seen_src:
            raise r.fail("source", i, "id", f"duplicate source id '{sid}'")
        seen_src.add(sid)
        sources.append(
            Source(
                id=sid,
                document=doc_ref("source", i, entry),
                footnotes=_footnote_numbers(r, i, entry),
                url=r.url("source", i, entry, "url"),
                title=r.string("source", i, entry, "title"),
                publisher=r.string("source", i, entry, "publisher"),
                published=r.date("source", i, entry, "published"),
                language=r.language("source", i, entry),
                quotes=r.strings("source", i, entry, "quotes"),
                alternates=tuple(
                    r.url("source", i, entry, "alternates", v)
                    for v in r.strings("source", i, entry, "alternates")
                ),
                notes=r.string("source", i, entry, "notes"),
                domain=_domain(r, "source", i, entry, r.string("source", i, entry, "domain")),
                capture=_capture_method(r, i, entry),
            )
        )

    cited = {(s.document, n) for s in sources for n in s.footnotes}
    claims: list[Claim] = []
    counters: dict[str, int] = {}
    for i, entry in enumerate(data.get("claim", [])):
        r.check_keys("claim", i, entry, CLAIM_KEYS)
        doc = doc_ref("claim", i, entry)
        number = r.integer("claim", i, entry, "footnote")
        text_ = r.string("claim", i, entry, "text", required=True)
        assert text_ is not None
        if (doc, number) not in cited:
            raise r.fail(
                "claim", i, "footnote",
                f"claim cites footnote {number}, but no [[source]] lists footnote {number}",
            )  # fmt: skip
        counters[doc] = counters.get(doc, 0) + 1
        claims.append(Claim(document=doc, footnote=number, text=text_, index=counters[doc]))

    publishers = []
    for i, entry in enumerate(data.get("publisher", [])):
        r.check_keys("publisher", i, entry, PUBLISHER_KEYS)
        name = r.string("publisher", i, entry, "name", required=True)
        domains = r.strings("publisher", i, entry, "domains")
        if not domains:
            raise r.fail("publisher", i, "domains", 'give at least one domain, e.g. ["rg.ru"]')
        assert name is not None
        publishers.append(
            Publisher(name, tuple(_domain(r, "publisher", i, entry, d) or d for d in domains))
        )

    return Manifest(
        path=path,
        documents=tuple(documents),
        footnotes=tuple(footnotes),
        sources=tuple(sources),
        claims=tuple(claims),
        settings=settings,
        publishers=tuple(publishers),
    )


def _domain(r: _Reader, table: str, i: int, entry: dict[str, Any], value: str | None) -> str | None:
    """A bare host name such as ``kremlin.ru`` (no scheme, no path), lower-cased."""
    if value is None:
        return None
    key = "domain" if table == "source" else "domains"
    if not DOMAIN_RE.match(value):
        raise r.fail(table, i, key, f"'{value}' is not a domain name (write e.g. 'kremlin.ru')")
    return value.lower()


def _settings(r: _Reader, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ManifestError("[settings] must be a table", path=r.path, field="settings")
    r.check_keys("settings", 0, raw, SETTING_NAMES)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in LIST_SETTINGS:
            out[key] = _list_setting(r, raw, key, value)
            continue
        want = SETTING_TYPES[key]
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, want) or (want is not bool and isinstance(value, bool)):
            kind = {bool: "true or false", int: "a whole number", float: "a number"}.get(
                want, _tomltype(want())
            )
            raise r.fail("settings", 0, key, f"must be {kind}, not {value!r}")
        if key in SETTING_RANGES:
            low, high = SETTING_RANGES[key]
            if not low <= float(value) <= high:  # type: ignore[arg-type]
                raise r.fail(
                    "settings", 0, key, f"must be between {low:g} and {high:g}, not {value!r}"
                )
        if key in ENDPOINT_SETTINGS and value:
            r.url("settings", 0, raw, key, str(value))
        if key == "user_agent" and (problem := user_agent_problem(str(value))):
            raise r.fail("settings", 0, key, problem)
        out[key] = value
    return out


def _list_setting(r: _Reader, raw: dict[str, Any], key: str, value: Any) -> tuple[str, ...]:
    """A list of strings: TSA URLs (checked as URLs) or PEM files (made absolute, relative to
    sources.toml, and required to exist)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise r.fail("settings", 0, key, f"must be a list of strings, not {value!r}")
    if key == "tsa_urls":
        return tuple(r.url("settings", 0, raw, key, v) or v for v in value)
    paths = []
    for v in value:
        path = (r.path.parent / v).resolve()
        if not path.is_file():
            raise r.fail("settings", 0, key, f"'{v}' is not a file (looked at {path})")
        paths.append(str(path))
    return tuple(paths)


def _documents(r: _Reader, raw: list[Any]) -> list[Document]:
    documents: list[Document] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        r.check_keys("document", i, entry, DOCUMENT_KEYS)
        did = r.ident("document", i, entry)
        if did in seen:
            raise r.fail("document", i, "id", f"duplicate document id '{did}'")
        seen.add(did)
        file_ = r.string("document", i, entry, "file")
        documents.append(
            Document(
                id=did,
                title=r.string("document", i, entry, "title", required=True) or "",
                author=r.string("document", i, entry, "author"),
                publisher=r.string("document", i, entry, "publisher"),
                published=r.date("document", i, entry, "published"),
                language=r.language("document", i, entry),
                url=r.url("document", i, entry, "url"),
                file=(r.path.parent / file_) if file_ else None,
            )
        )
    return documents


def _footnote_numbers(r: _Reader, i: int, entry: dict[str, Any]) -> tuple[int, ...]:
    if "footnote" in entry and "footnotes" in entry:
        raise r.fail("source", i, "footnotes", "give either 'footnote' or 'footnotes', not both")
    key = "footnotes" if "footnotes" in entry else "footnote"
    value = entry.get(key)
    if value is None:
        raise r.fail("source", i, None, "missing 'footnotes' (the footnote numbers citing it)")
    values = value if isinstance(value, list) else [value]
    if not values:
        raise r.fail("source", i, key, "must list at least one footnote number")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_FOOTNOTE:
            raise r.fail(
                "source", i, key, f"footnote numbers must be whole numbers >= 1, not {v!r}"
            )
    return tuple(values)


def _capture_method(r: _Reader, i: int, entry: dict[str, Any]) -> str | None:
    """A [[source]]'s ``capture``: one of CAPTURE_METHODS, or None."""
    value = r.string("source", i, entry, "capture")
    if value is not None and value not in CAPTURE_METHODS:
        choices = " or ".join(f'"{m}"' for m in CAPTURE_METHODS)
        raise r.fail("source", i, "capture", f"capture must be {choices}, not {value!r}")
    return value
