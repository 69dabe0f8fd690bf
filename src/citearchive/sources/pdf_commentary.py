"""A PDF commentary -> lines in the Markdown ``<sup>n</sup>`` shape the commentary parser reads.

From the layout (:mod:`.pdf_layout`):

- **markers** are superscript digits in body lines (smaller font, raised baseline);
- **footnotes** are the run of lines at a page's bottom set smaller than the body, each
  starting with a number (superscript, or plain and next in sequence), continued across
  pages; and everything after a "Notes" / 「注」 / «Примечания» heading (endnotes);
- **links**: a URI link annotation is mapped to the footnote whose glyphs it covers. A
  printed URL it covers is checked against it (a mismatch is reported, the link wins);
  over other text it becomes ``[text](uri)``;
- **printed URLs split by a line break** are rejoined (:func:`rejoin_lines`): after ``/ -
  _ . ? = & #`` and the like, or mid-word when the next line goes on with URL characters;
  never before a word such as "accessed" or a bracket or non-ASCII text;
- running page numbers are dropped, the largest text on the first page is the title.

Line numbers of the result count lines of that Markdown text; :meth:`PdfCommentary.where`
turns one into "page P line L" of the PDF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

from .pdf_layout import Glyph, Link, PdfLayout, PdfLine, read_pdf_layout
from .sentences import Line, ends_sentence, joiner

_SMALL = 0.92  # footnote lines are set at most this fraction of the body size
_HEADING = 1.15  # heading lines at least this multiple of it
_NOTES_HEADING = re.compile(
    r"^\s*(?:notes|endnotes|footnotes|references|注|注記|脚注|примечания|сноски)\s*[:：]?\s*$",
    re.I,
)
_PAGE_NUMBER = re.compile(r"^[\s\-–—]*(?:\d{1,4}|[ivxlc]{1,6})(?:\s*/\s*\d{1,4})?[\s\-–—]*$", re.I)
_PLAIN_NUMBER = re.compile(r"^(\d{1,3})(?:[.)]\s*|\s+)(?=\S)")
_URL_TAIL = re.compile(r"(?:https?://|www\.)\S*$", re.I)
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_URL_START = re.compile(r"^(?:https?://|www\.)", re.I)
_BARE_URL = re.compile(r"https?://[^\s<>\"\]（）「」、。»]+", re.I)
_URL_BREAKS = "/-_.?=&#%+~:"
# Words that follow a URL in a citation: a line starting with one does not continue it.
_AFTER_URL = frozenset(
    ("accessed", "retrieved", "last", "viewed", "visited", "available", "archived", "see",
     "and", "or", "in", "on", "at", "from", "via", "date", "update", "updated")
)  # fmt: skip


@dataclass
class PdfCommentary:
    """The commentary as Markdown lines, its title, and URL problems (footnote, line, text)."""

    lines: list[Line]
    title: str | None
    problems: list[tuple[int, int, str]] = field(default_factory=list)
    places: dict[int, tuple[int, int]] = field(default_factory=dict)

    def where(self, lineno: int) -> str:
        page, line = self.places.get(lineno, (0, 0))
        return f"page {page} line {line}" if page else f"line {lineno}"


@dataclass
class _Note:
    number: int
    lines: list[PdfLine]
    links: list[Link]


def read_pdf_commentary(data: bytes, path: Path) -> PdfCommentary:
    """Read a commentary PDF; CommentaryError (one line, naming ``path``) when unreadable."""
    return _Builder(read_pdf_layout(data, path)).build()


# --- URLs split across lines ---------------------------------------------------------------


def rejoin_lines(lines: list[str]) -> str:
    """Join text lines; a printed URL that a line break split is joined without a space."""
    out = ""
    for line in lines:
        out = out + separator(out, line) + line if out else line
    return out


def separator(before: str, after: str) -> str:
    """What goes between two lines: "" inside a URL or next to Japanese, else one space."""
    tail = _URL_TAIL.search(before)
    if tail and _continues_url(tail.group(0), after):
        return ""
    if re.search(r"[^\W\d_]-$", before) and after[:1].isalpha():
        return ""  # a hyphenated word broken at its hyphen
    return joiner(before, after)


def _continues_url(url: str, after: str) -> bool:
    m = _URL_CHARS.match(after)  # the URL characters the next line starts with
    token = m.group(0) if m else ""
    if not token or token[0] in "([<{" or _URL_START.match(token):
        return False
    if token.rstrip(".,;:)").lower() in _AFTER_URL:
        return False
    if url[-1] in _URL_BREAKS:
        return True
    return bool(re.search(r"[/._\-=?&%#~\d]", token))


# --- layout -> Markdown ----------------------------------------------------------------------


class _Builder:
    def __init__(self, layout: PdfLayout) -> None:
        self.layout = layout
        self.size = layout.body_size
        self.body: list[PdfLine] = []
        self.notes: list[_Note] = []
        self.out = PdfCommentary([], layout.title)

    def build(self) -> PdfCommentary:
        endnotes = False
        for page in self.layout.pages:
            lines = [ln for ln in page.lines if ln.text.strip()]
            for edge in (-1, 0):  # running page numbers, footer first
                if lines and _PAGE_NUMBER.match(lines[edge].text):
                    lines.pop(edge)
            open_note = self.notes[-1] if self.notes else None
            if endnotes:
                self._notes(lines, page.links, open_note)
                continue
            head = next(
                (k for k, ln in enumerate(lines)
                 if _NOTES_HEADING.match(ln.text) and (k or page.number > 1)),
                None,
            )  # fmt: skip
            if head is not None:
                self.body.extend(lines[:head])
                self._notes(lines[head + 1 :], page.links, None)
                endnotes = True
                continue
            k = len(lines)
            while k > 0 and lines[k - 1].size <= _SMALL * self.size:
                k -= 1
            self.body.extend(lines[:k])
            self._notes(lines[k:], page.links, open_note)
        self._emit_body()
        for note in self.notes:
            self._emit_note(note)
        return self.out

    def _notes(self, lines: list[PdfLine], links: list[Link], note: _Note | None) -> None:
        """Footnote lines: a numbered line starts a note, others continue the open one."""
        for line in lines:
            number = self._note_number(line)
            if number is not None:
                note = _Note(number, [line], links)
                self.notes.append(note)
            elif note is not None:
                note.lines.append(line)
                if links is not note.links:
                    note.links = [*note.links, *links]
            else:
                self.body.append(line)

    def _note_number(self, line: PdfLine) -> int | None:
        lead = "".join(g.text for g in _leading_sup(line))
        if lead.isdigit():
            return int(lead)
        m = _PLAIN_NUMBER.match(line.text)
        last = self.notes[-1].number if self.notes else 0
        if m and last < int(m.group(1)) <= last + 3:
            return int(m.group(1))
        return None

    def _line(self, text: str, pdf_line: PdfLine | None = None) -> None:
        lineno = len(self.out.lines) + 1
        self.out.lines.append(Line(text, lineno))
        if pdf_line is not None:
            self.out.places[lineno] = (pdf_line.page, pdf_line.number)

    def _emit_body(self) -> None:
        titled = False
        paragraphs: list[list[PdfLine]] = []
        for line in self.body:
            prev = paragraphs[-1][-1] if paragraphs else None
            if prev is None or self._breaks(prev, line):
                paragraphs.append([line])
            else:
                paragraphs[-1].append(line)
        for para in paragraphs:
            if para[0].size >= _HEADING * self.size:
                hashes = "###" if titled else "##"
                titled = True
                text = rejoin_lines([_body_markdown(ln) for ln in para])
                self._line(f"{hashes} {text}", para[0])
                self._line("")
                continue
            # One Markdown line per PDF line (lint names the line), except where a URL or
            # a hyphenated word goes on: those lines are joined here.
            plain = ""
            for k, pdf_line in enumerate(para):
                text, before = _body_markdown(pdf_line), plain
                plain = _plain(pdf_line)
                if k and separator(before, plain) == "" and joiner(before, plain) == " ":
                    last = self.out.lines[-1]
                    last.text += text
                    continue
                self._line(_unstructured(text) if k else text, pdf_line)
            self._line("")

    def _breaks(self, prev: PdfLine, line: PdfLine) -> bool:
        """Does ``line`` start a new paragraph after ``prev``?"""
        heading = _HEADING * self.size
        if (prev.size >= heading) != (line.size >= heading) or abs(prev.size - line.size) > 1:
            return True
        ended = ends_sentence(_plain(prev))
        if prev.page != line.page:
            return ended
        gap = prev.bottom - line.top
        if gap > 0.8 * max(prev.size, line.size):
            return True
        left = min(ln.x0 for ln in self.body if ln.page == line.page)
        return ended and line.x0 > left + 0.5 * line.size

    def _emit_note(self, note: _Note) -> None:
        text, problems = _note_markdown(note)
        lineno = len(self.out.lines) + 1
        for printed, uri in problems:
            self.out.problems.append(
                (note.number, lineno,
                 f"footnote {note.number}: the printed URL {printed} differs from its link "
                 f"{uri}; the link is used"),
            )  # fmt: skip
        self._line(f"<sup>{note.number}</sup> {text}", note.lines[0])
        self._line("")


def _leading_sup(line: PdfLine) -> list[Glyph]:
    out: list[Glyph] = []
    for g in line.glyphs:
        if not g.sup:
            break
        out.append(g)
    return out


def _unstructured(text: str) -> str:
    """A continuation line that would read as a heading, rule or list item, defused."""
    if re.match(r"\s*(?:[#>|=+*-]|\d+[.)](?:\s|$))", text):
        m = re.match(r"\s*(\d+|.)", text)
        assert m is not None
        return f"&#{ord(m.group(1)[0])};" + text[m.start(1) + 1 :]
    return text


def _plain(line: PdfLine) -> str:
    return "".join(g.text for g in line.glyphs if not g.sup)


def _escape(text: str) -> str:
    """Plain text that the Markdown reader gives back unchanged."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("*", "&#42;").replace("[", "&#91;").replace("]", "&#93;")


def _plain_markdown(text: str) -> str:
    """Escape text; printed URLs become ``<url>`` autolinks."""
    out, pos = [], 0
    for m in _BARE_URL.finditer(text):
        url = m.group(0).rstrip(".,;:")
        if url.endswith(")") and "(" not in url:
            url = url[:-1]
        out.append(_escape(text[pos : m.start()]) + f"<{url}>")
        pos = m.start() + len(url)
    out.append(_escape(text[pos:]))
    return "".join(out)


def _body_markdown(line: PdfLine) -> str:
    """A body line: superscript digits become ``<sup>n</sup>``, the rest is escaped."""
    out = []
    for sup, run in groupby(line.glyphs, key=lambda g: g.sup):
        text = "".join(g.text for g in run)
        if sup and re.fullmatch(r"\s*\d+(?:\s*[,，、\-–]\s*\d+)*\s*", text):
            out.append(f"<sup>{text.strip()}</sup>")
        else:
            out.append(_escape(text))
    return "".join(out)


def _note_markdown(note: _Note) -> tuple[str, list[tuple[str, str]]]:
    """A footnote's text in Markdown, links in place; (printed, link) URL mismatches."""
    pieces: list[tuple[str | None, str]] = []  # (link URI or None, text); "\n" = line break
    for k, line in enumerate(note.lines):
        glyphs = line.glyphs[len(_leading_sup(line)) :] if k == 0 else line.glyphs
        if k == 0 and not _leading_sup(line):
            glyphs = _after_plain_number(glyphs)
        if k:
            pieces.append((None, "\n"))
        for g in glyphs:
            pieces.append((next((ln.uri for ln in note.links if ln.covers(g)), None), g.text))
    for k in range(1, len(pieces) - 1):  # a break inside one link belongs to it
        if pieces[k][1] == "\n" and pieces[k - 1][0] and pieces[k - 1][0] == pieces[k + 1][0]:
            pieces[k] = (pieces[k - 1][0], "\n")
    parts: list[tuple[str | None, str]] = []
    for uri, run in groupby(pieces, key=lambda p: p[0]):
        parts.append((uri, "".join(t for _, t in run)))
    visible = ""
    out: list[str] = []
    problems: list[tuple[str, str]] = []
    for uri, text in parts:
        segs = text.split("\n")
        if uri is None:
            joined = segs[0]
            for seg in segs[1:]:
                joined += separator(visible + joined, seg) + seg if seg else ""
                if not seg:  # the break before the next part: decided by that part's text
                    joined += "\n"
            out.append(joined)
            visible += joined
            continue
        shown = re.sub(r"\s+", "", text)
        if _URL_START.match(shown):
            if shown.rstrip(".,;:") != uri:
                problems.append((shown, uri))
            link, shown = f"<{uri}>", uri
        else:
            shown = rejoin_lines(segs)
            link = f"[{_escape(shown)}]({uri})"
        if visible.endswith("\n"):
            out[-1] = out[-1][:-1] + joiner(visible[:-1], shown)
            visible = visible[:-1] + joiner(visible[:-1], shown)
        out.append("\0" + link + "\0")
        visible += shown
    text = "".join(out).replace("\n", " ")
    rendered = "".join(
        chunk[1:-1] if k % 2 else _plain_markdown(chunk)
        for k, chunk in enumerate(re.split(r"(\0[^\0]*\0)", text))
    )
    return re.sub(r"\s+", " ", rendered).strip(), problems


def _after_plain_number(glyphs: list[Glyph]) -> list[Glyph]:
    """Glyphs after a plain footnote number ("12. ", "12 ") at the start of a line."""
    text = "".join(g.text for g in glyphs)
    m = _PLAIN_NUMBER.match(text)
    return glyphs[m.end() :] if m else glyphs
