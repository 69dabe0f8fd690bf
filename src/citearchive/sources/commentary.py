"""Parse a research commentary into footnotes and claim sentences; lint its citations.

Three input shapes are understood (``fmt``, detected when not given):

- ``markdown-sup``: ``<sup>n</sup>`` markers in the body, definitions as lines (or
  list items) starting with ``<sup>n</sup>`` — what PDF-to-Markdown converters write;
- ``markdown-footnotes``: ``[^n]`` markers and ``[^n]: …`` definitions;
- ``html``: ``<sup>n</sup>`` or ``<a href="#fn1">`` markers, definitions as elements
  with ids like ``fn1``/``footnote-1``/``ftn1`` or paragraphs starting with ``<sup>n</sup>``;
- ``pdf`` (a file only): markers, footnotes and links from the layout, see
  :mod:`.pdf_commentary`.

The Markdown-footnote and HTML shapes are first rewritten into the ``<sup>n</sup>``
shape, line numbers kept, so one code path finds paragraphs, sentences and claims.
A *claim* is the sentence carrying a marker, up to that marker; a paragraph without
sentence-final punctuation continues in the next (PDF page breaks), and headings,
rules, the title/author lines and footnote definitions are never claims.

:func:`lint` checks marker/footnote integrity and explains likely misprints
("marker 1 used twice …; footnote 11 is never referenced — was 11 meant?").
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config import MAX_COMMENTARY_BYTES
from ..errors import CommentaryError
from .citation_parse import html_to_lines, parse_citation
from .inputfile import InputFileError, read_input
from .sentences import (
    MARKER_RE,
    Block,
    Line,
    block_raw,
    block_text,
    ends_sentence,
    join_pieces,
    logical_paragraphs,
    paragraph_text,
    sentence_starts,
    split_blocks,
    text_language,
)

FORMATS = ("markdown-sup", "markdown-footnotes", "html")  # and "pdf", read from a file

_FN_DEF = re.compile(r"^\s{0,3}\[\^(?P<label>[^\]\s]+)\]:[ \t]?(?P<rest>.*)$")
_FN_REF = re.compile(r"\[\^(?P<label>[^\]\s]+)\]")

_BYLINE_MAX = 120  # characters: a longer first paragraph is body text, not an author line
MAX_CLAIM_CHARS = 1000  # a claim is at most this much of its sentence, the end nearest its marker


@dataclass
class Marker:
    """A footnote marker in the body: footnote number, paragraph (from 1), line."""

    number: int
    paragraph: int
    line: int
    sentence: int = 0  # index of the sentence among the document's sentences


@dataclass
class FootnoteDef:
    """A footnote definition and what its citation text says about the cited work."""

    number: int
    text: str
    title: str | None
    publisher: str | None
    published: str | None
    urls: list[str]
    language: str | None
    accessed: str | None
    line: int


@dataclass
class Claim:
    """The sentence carrying a marker, up to that marker (markers stripped)."""

    footnote: int
    text: str
    paragraph: int
    line: int


@dataclass
class LintWarning:
    """A citation-integrity problem; ``suggested`` is the footnote probably meant."""

    code: str  # missing-footnote | unreferenced-footnote | reused-marker | numbering-gap
    message: str  # | duplicate-footnote | url-mismatch (PDF: printed URL is not its link)
    footnote: int
    line: int | None
    suggested: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Commentary:
    """A parsed commentary: bibliographic data, markers, footnotes, claims, lint."""

    title: str | None
    author: str | None
    language: str | None
    fmt: str
    markers: list[Marker] = field(default_factory=list)
    footnotes: list[FootnoteDef] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    warnings: list[LintWarning] = field(default_factory=list)
    byline: str | None = None  # the author line as printed (affiliation included)

    def footnote(self, number: int) -> FootnoteDef | None:
        """The first definition of footnote ``number``, or None."""
        return next((f for f in self.footnotes if f.number == number), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- entry points ------------------------------------------------------------------------


def read_commentary(path: str | Path, *, fmt: str | None = None) -> Commentary:
    """Read and parse a commentary file; CommentaryError (one line, naming it) if unreadable."""
    p = Path(path)
    try:
        data = read_input(p, MAX_COMMENTARY_BYTES)
    except InputFileError as exc:
        raise CommentaryError(f"{p}: {exc}") from None
    except FileNotFoundError:
        raise CommentaryError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise CommentaryError(f"{p}: is a directory, not a commentary file") from None
    except OSError as exc:
        raise CommentaryError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if fmt == "pdf" or (fmt is None and (data.startswith(b"%PDF-") or p.suffix.lower() == ".pdf")):
        return _read_pdf(data, p)
    if fmt is None and p.suffix.lower() in (".html", ".htm", ".xhtml"):
        fmt = "html"
    text = _decode(data, p)
    try:
        return parse_commentary(text, fmt=fmt)
    except CommentaryError as exc:
        raise CommentaryError(f"{p}: {exc}") from None


def _read_pdf(data: bytes, path: Path) -> Commentary:
    """A PDF commentary (:mod:`.pdf_commentary`); lint names places as "page P line L"."""
    from .pdf_commentary import read_pdf_commentary

    pdf = read_pdf_commentary(data, path)
    commentary = _parse_lines(pdf.lines, "pdf", pdf.title)
    warnings = lint(commentary)
    for number, lineno, message in pdf.problems:
        warnings.append(LintWarning("url-mismatch", message, number, lineno))
    for w in warnings:
        w.message = re.sub(
            r"\b(lines?) (\d+(?:(?:, | and | or )\d+)*)",
            lambda m: re.sub(r"\d+", lambda n: pdf.where(int(n.group())), m.group(2)),
            w.message,
        )
    commentary.warnings = sorted(warnings, key=lambda w: (w.line or 0, w.footnote))
    return commentary


def _decode(data: bytes, path: Path) -> str:
    """UTF-8 (BOM optional), UTF-16 with BOM, or an HTML file's declared charset."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        declared = re.search(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_-]+)", data[:4096], re.I)
        if declared:
            try:
                return data.decode(declared.group(1).decode("ascii"))
            except (LookupError, UnicodeDecodeError):
                pass
        line = data[: exc.start].count(b"\n") + 1
        raise CommentaryError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8"
        ) from None


def detect_format(text: str) -> str:
    """``html``, ``markdown-footnotes`` or ``markdown-sup``, from the text's markup."""
    head = text.lstrip()[:200].lower()
    if head.startswith(("<!doctype", "<html", "<?xml")) or re.search(
        r"</p\s*>|<p[\s>]|<li\s+id=", text, re.I
    ):
        return "html"
    if re.search(r"^\s{0,3}\[\^[^\]\s]+\]:", text, re.M):
        return "markdown-footnotes"
    return "markdown-sup"


def parse_commentary(text: str, *, fmt: str | None = None) -> Commentary:
    """Parse commentary text (format detected when ``fmt`` is None) and lint it."""
    fmt = fmt or detect_format(text)
    fallback_title = None
    if fmt == "html":
        lines, fallback_title = html_to_lines(text)
        parsed = [Line(t, n) for t, n in lines]
    elif fmt == "markdown-footnotes":
        parsed = _from_markdown_footnotes(text)
    elif fmt == "markdown-sup":
        parsed = [Line(t, i) for i, t in enumerate(text.splitlines(), start=1)]
    else:
        raise CommentaryError(f"unknown commentary format '{fmt}' (one of {', '.join(FORMATS)})")
    commentary = _parse_lines(parsed, fmt, fallback_title)
    commentary.warnings = lint(commentary)
    return commentary


def _from_markdown_footnotes(text: str) -> list[Line]:
    """Rewrite ``[^label]`` markers and ``[^label]:`` definitions as ``<sup>n</sup>``.

    Numeric labels keep their number; other labels are numbered after the highest
    numeric one, in order of first appearance (as Markdown renderers number them).
    """
    labels = [m.group("label") for m in _FN_REF.finditer(text)]
    numbers: dict[str, int] = {lab: int(lab) for lab in labels if lab.isdigit() and int(lab) > 0}
    following = max(numbers.values(), default=0) + 1
    for lab in labels:
        if lab not in numbers:
            numbers[lab] = following
            following += 1

    def sup(m: re.Match[str]) -> str:
        return f"<sup>{numbers[m.group('label')]}</sup>"

    out = []
    for i, line in enumerate(text.splitlines(), start=1):
        m = _FN_DEF.match(line)
        if m:
            rest = _FN_REF.sub(sup, m.group("rest"))
            out.append(Line(f"<sup>{numbers[m.group('label')]}</sup> {rest}", i))
        else:
            out.append(Line(_FN_REF.sub(sup, line), i))
    return out


def _front_matter(blocks: list[Block]) -> tuple[str | None, str | None, list[Block]]:
    """(title, author line, body blocks): the first #/## heading and the line after it."""
    for i, b in enumerate(blocks):
        if b.kind == "heading" and b.level <= 2:
            title = block_text(b)
            nxt = blocks[i + 1] if i + 1 < len(blocks) else None
            if nxt and nxt.kind == "para" and not MARKER_RE.search(block_raw(nxt)):
                line = block_text(nxt)
                if len(line) <= _BYLINE_MAX and not ends_sentence(line):
                    return title, line, [*blocks[:i], b, *blocks[i + 2 :]]
            return title, None, blocks
    return None, None, blocks


def author_from_byline(byline: str | None) -> str | None:
    """The person's name in an author line ("地域研究部 … 山添 博史" -> "山添博史")."""
    if not byline:
        return None
    line = re.sub(r"^(by|著者?|文|執筆|автор)[\s:：]+", "", byline.strip(), flags=re.I)
    tokens = line.split()
    cjk_name = re.compile(r"^[\u3400-\u9fff々]{1,4}$")
    if len(tokens) >= 2 and cjk_name.match(tokens[-1]) and cjk_name.match(tokens[-2]):
        return tokens[-2] + tokens[-1]
    return line or None


def claim_text(text: str, start: int, end: int) -> str:
    """``text[start:end]`` with its spaces collapsed, at most :data:`MAX_CLAIM_CHARS` of it:
    a longer sentence keeps its end, the words nearest the marker, after an ellipsis (so
    each claim costs bounded time and space however long its sentence)."""
    window = max(start, end - 2 * MAX_CLAIM_CHARS)
    claim = re.sub(r"\s+", " ", text[window:end]).strip()
    if window == start and len(claim) <= MAX_CLAIM_CHARS:
        return claim
    claim = claim[-(MAX_CLAIM_CHARS - 1) :]
    space = claim.find(" ")
    if 0 <= space < MAX_CLAIM_CHARS // 4:
        claim = claim[space + 1 :]
    return "…" + claim


def _parse_lines(lines: list[Line], fmt: str, fallback_title: str | None) -> Commentary:
    blocks, defs = split_blocks(lines)
    title, byline, body = _front_matter(blocks)
    c = Commentary(title=title or fallback_title, author=author_from_byline(byline),
                   language=None, fmt=fmt, byline=byline)  # fmt: skip
    texts: list[str] = []
    paragraph = sentence_base = 0
    for kind, plines in logical_paragraphs(body):
        text, marks = paragraph_text(plines)
        if kind == "heading":
            c.markers.extend(Marker(n, 0, ln, sentence=-1) for _, n, ln in marks)
            continue
        paragraph += 1
        texts.append(text)
        starts = sentence_starts(text, breaks={off for off, _, _ in marks})
        for off, number, lineno in marks:
            k = max(bisect_left(starts, off) - 1, 0)
            claim = claim_text(text, starts[k], off)
            if not claim:
                end = starts[k + 1] if k + 1 < len(starts) else len(text)
                claim = claim_text(text, starts[k], end)
            c.markers.append(Marker(number, paragraph, lineno, sentence_base + k))
            c.claims.append(Claim(number, claim, paragraph, lineno))
        sentence_base += len(starts)
    for number, dlines in defs:
        cite = parse_citation(join_pieces([ln.text for ln in dlines]))
        c.footnotes.append(
            FootnoteDef(
                number=number, text=cite.text, title=cite.title, publisher=cite.publisher,
                published=cite.published, urls=cite.urls, language=cite.language,
                accessed=cite.accessed, line=dlines[0].lineno,
            )
        )  # fmt: skip
    c.language = text_language(" ".join(texts))
    return c


# --- lint --------------------------------------------------------------------------------


def lint(c: Commentary) -> list[LintWarning]:
    """Check markers against footnote definitions; warnings sorted by line."""
    defined: dict[int, FootnoteDef] = {}
    warnings: list[LintWarning] = []
    for f in c.footnotes:
        if f.number in defined:
            first = defined[f.number]
            warnings.append(LintWarning(
                "duplicate-footnote",
                f"footnote {f.number} is defined twice (lines {first.line} and {f.line}); "
                "the first definition is used",
                f.number, f.line,
            ))  # fmt: skip
        else:
            defined[f.number] = f
    referenced: dict[int, list[Marker]] = {}
    for m in c.markers:
        referenced.setdefault(m.number, []).append(m)
    for number, ms in referenced.items():
        if number not in defined:
            times = f" (used {len(ms)} times)" if len(ms) > 1 else ""
            warnings.append(LintWarning(
                "missing-footnote",
                f"marker {number} (line {ms[0].line}){times} has no footnote definition",
                number, ms[0].line,
            ))  # fmt: skip
    unreferenced = sorted(set(defined) - set(referenced))
    # A repeated [^n] is deliberate Markdown; a repeated <sup>n</sup> may be a misprint.
    reuse = [] if c.fmt == "markdown-footnotes" else _reused(c.markers, unreferenced)
    warnings.extend(reuse)
    meant = {w.suggested: w for w in reuse if w.suggested is not None}
    for number in unreferenced:
        f = defined[number]
        hint = ""
        if number in meant:
            hint = f"; marker {meant[number].footnote} at line {meant[number].line} may be meant"
        warnings.append(LintWarning(
            "unreferenced-footnote",
            f"footnote {number} is defined (line {f.line}) but never referenced{hint}",
            number, f.line,
        ))  # fmt: skip
    known = set(defined) | set(referenced)
    missing = [n for n in range(1, max(known, default=0)) if n not in known]
    for run in _runs(missing):
        below = max((n for n in known if n < run[0]), default=0)
        above = min(n for n in known if n > run[-1])
        what = f"footnote {run[0]} is" if len(run) == 1 else f"footnotes {run[0]}–{run[-1]} are"
        warnings.append(LintWarning(
            "numbering-gap",
            f"{what} missing: the numbering jumps from {below} to {above}",
            run[0], None,
        ))  # fmt: skip
    return sorted(warnings, key=lambda w: (w.line or 0, w.footnote))


def _reused(markers: list[Marker], unreferenced: list[int]) -> list[LintWarning]:
    """One warning per marker number used for different sentences with other markers between.

    The guess for a misprinted marker is an unreferenced footnote whose number loses one
    digit to become the marker (11 -> 1), preferring the number that continues the sequence.
    """
    flagged: dict[int, list[tuple[Marker, list[int]]]] = {}
    last_index: dict[int, int] = {}
    previous = 0
    taken: set[int] = set()
    for i, m in enumerate(markers):
        corrected = m.number
        j = last_index.get(m.number)
        if (
            j is not None
            and markers[j].sentence != m.sentence
            and any(o.number != m.number for o in markers[j + 1 : i])
        ):
            guesses = _guesses(m.number, previous + 1, [u for u in unreferenced if u not in taken])
            flagged.setdefault(m.number, []).append((m, guesses))
            if len(guesses) == 1:
                corrected = guesses[0]
                taken.add(corrected)
        last_index[m.number] = i
        previous = corrected
    warnings = []
    for number, flags in flagged.items():
        uses = [m for m in markers if m.number == number]
        count = "twice" if len(uses) == 2 else f"{len(uses)} times"
        where = (
            f"paragraphs {_and([str(m.paragraph) for m in uses])}, "
            f"lines {_and([str(m.line) for m in uses])}"
        )
        hints = []
        for m, guesses in flags:
            if guesses:
                these = "footnote {} is" if len(guesses) == 1 else "footnotes {} are"
                these = these.format(_and([str(g) for g in guesses]))
                names = _and([str(g) for g in guesses], "or")
                hints.append(f"{these} never referenced — was {names} meant at line {m.line}?")
        message = f"marker {number} used {count} ({where})"
        if hints:
            message += "; " + "; ".join(hints)
        first, guesses = flags[0]
        warnings.append(LintWarning("reused-marker", message, number, first.line,
                                    guesses[0] if len(guesses) == 1 else None))  # fmt: skip
    return warnings


def _guesses(number: int, expected: int, unreferenced: list[int]) -> list[int]:
    """Unreferenced footnotes a misprinted marker may stand for, most likely first."""
    digits = str(number)
    lost = [
        u for u in unreferenced
        if len(str(u)) == len(digits) + 1
        and any(str(u)[:k] + str(u)[k + 1 :] == digits for k in range(len(str(u))))
    ]  # fmt: skip
    if expected in lost:
        return [expected]
    if lost:
        return lost
    return [expected] if expected in unreferenced else []


def _runs(numbers: list[int]) -> list[list[int]]:
    """Consecutive runs of sorted numbers: [4, 8, 9, 10] -> [[4], [8, 9, 10]]."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and runs[-1][-1] == n - 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return runs


def _and(items: list[str], word: str = "and") -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"
