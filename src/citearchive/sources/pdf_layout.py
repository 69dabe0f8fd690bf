"""The layout of a PDF commentary: positioned glyphs grouped into lines, and link annotations.

pdfminer.six gives every character with its font size and box (CID-keyed Japanese
fonts are mapped back to Unicode with its bundled CMaps). Lines are grouped here rather
than by pdfminer's own layout analysis, which puts a raised footnote marker on a line of
its own: a glyph joins the line whose body it overlaps vertically. Within a line, a
glyph clearly smaller than the line's main size and raised above its baseline is
*superscript* (a footnote marker, when it is a digit).

Link annotations (``/Subtype /Link`` with a ``/URI`` action) come with their rectangles
(one per ``/QuadPoints`` quadrilateral when given), so a caller can tell which glyphs
each link covers. A PDF is hostile input: anything pdfminer cannot read becomes one
:class:`~citearchive.errors.CommentaryError`, and reading stops at ``COMMENTARY_MAX_PAGES``.
"""

from __future__ import annotations

import io
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import COMMENTARY_MAX_PAGES
from ..errors import CommentaryError

_SUPERSCRIPT_SIZE = 0.85  # a superscript glyph is at most this fraction of the line's size
_SUPERSCRIPT_RISE = 0.15  # ... and its baseline at least this fraction of the size higher
_SAME_LINE = 0.45  # glyphs whose centres differ by less than this x size share a line
_SPACE_GAP = 0.2  # a horizontal gap wider than this x size is a space


@dataclass
class Glyph:
    """One character as drawn: text, font size and box (PDF units, origin bottom left)."""

    text: str
    size: float
    x0: float
    y0: float
    x1: float
    y1: float
    base: float = 0.0  # y of the text origin (the baseline, before any text rise)
    sup: bool = False  # raised and smaller than the line's main size

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2


@dataclass
class PdfLine:
    """Glyphs on one baseline, left to right; ``size`` is the main font size."""

    glyphs: list[Glyph]
    size: float = 0.0
    page: int = 0
    number: int = 0  # line number on its page, from 1

    @property
    def x0(self) -> float:
        return min(g.x0 for g in self.glyphs)

    @property
    def top(self) -> float:
        return max(g.y1 for g in self.glyphs if not g.sup) if self.body else self.glyphs[0].y1

    @property
    def bottom(self) -> float:
        return min(g.y0 for g in self.body) if self.body else self.glyphs[0].y0

    @property
    def body(self) -> list[Glyph]:
        return [g for g in self.glyphs if not g.sup]

    @property
    def text(self) -> str:
        return "".join(g.text for g in self.glyphs)


@dataclass
class Link:
    """A link annotation: the URI and the rectangles it covers."""

    uri: str
    rects: list[tuple[float, float, float, float]]

    def covers(self, g: Glyph) -> bool:
        x, y = g.centre
        return any(x0 - 1 <= x <= x1 + 1 and y0 - 1 <= y <= y1 + 1 for x0, y0, x1, y1 in self.rects)


@dataclass
class PdfPage:
    number: int
    lines: list[PdfLine] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)


@dataclass
class PdfLayout:
    pages: list[PdfPage]
    title: str | None = None  # the document information's Title

    @property
    def body_size(self) -> float:
        """The body text's font size: the largest size of a tenth of the characters.

        (Footnotes may well hold more characters than the body, in a smaller size; a
        title or headings hold few.) Sizes of one line only do not count.
        """
        sizes = Counter(round(g.size, 1) for p in self.pages for ln in p.lines for g in ln.body)
        lines = Counter(ln.size for p in self.pages for ln in p.lines)
        total = sum(sizes.values())
        common = [s for s, n in sizes.items() if n >= 0.1 * total and lines[s] > 1]
        return max(common or sizes or [0.0])


def read_pdf_layout(data: bytes, path: Path) -> PdfLayout:
    """Lines and links of every page; CommentaryError naming ``path`` when unreadable."""
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser

    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    pages: list[PdfPage] = []
    try:
        document = PDFDocument(PDFParser(io.BytesIO(data)))
        resources = PDFResourceManager(caching=True)
        device = PDFPageAggregator(resources, laparams=LAParams())
        interpreter = PDFPageInterpreter(resources, device)
        for number, page in enumerate(PDFPage.create_pages(document), start=1):
            if number > COMMENTARY_MAX_PAGES:
                break
            interpreter.process_page(page)
            glyphs = list(_glyphs(device.get_result()))
            pages.append(PdfPage(number, _lines(glyphs, number), _links(page.annots)))
        title = _info_title(document)
    except CommentaryError:
        raise
    except Exception as exc:  # pdfminer raises many types on malformed input
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise CommentaryError(f"{path}: not a readable PDF ({reason})") from None
    if not any(p.lines for p in pages):
        raise CommentaryError(f"{path}: the PDF has no text (a scan needs OCR first)")
    return PdfLayout(pages, title)


def _glyphs(container: Any) -> Any:
    from pdfminer.layout import LTChar

    for item in container:
        if isinstance(item, LTChar):
            text = item.get_text()
            if (text.strip() or text == " ") and item.size > 0:
                base = float(item.matrix[5])
                yield Glyph(text, float(item.size), item.x0, item.y0, item.x1, item.y1, base)
        elif hasattr(item, "__iter__"):
            yield from _glyphs(item)


def _lines(glyphs: list[Glyph], page: int) -> list[PdfLine]:
    """Group glyphs into lines, top to bottom; mark superscripts; drop space glyphs."""
    glyphs.sort(key=lambda g: -g.centre[1])
    groups: list[list[Glyph]] = []
    anchor: Glyph | None = None  # the largest glyph of the last group
    for g in glyphs:
        if anchor is not None and abs(anchor.centre[1] - g.centre[1]) < _SAME_LINE * max(
            anchor.size, g.size
        ):
            groups[-1].append(g)
            if g.size > anchor.size:
                anchor = g
        else:
            groups.append([g])
            anchor = g
    lines = [line for line in map(_line, groups) if line is not None]
    lines.sort(key=lambda ln: -ln.bottom)
    for k, line in enumerate(lines, start=1):
        line.page, line.number = page, k
    return lines


def _line(group: list[Glyph]) -> PdfLine | None:
    group.sort(key=lambda g: g.x0)
    printing = [g for g in group if g.text != " "]
    if not printing:
        return None
    size = Counter(round(g.size, 1) for g in printing).most_common(1)[0][0]
    # pdfminer puts a glyph's box at origin + (descent + rise) of its font; the main
    # glyphs give the descent, so each glyph's rise above the baseline follows.
    main = sorted((g.y0 - g.base) / g.size for g in printing if abs(g.size - size) < 0.2)
    descent = main[len(main) // 2]
    out: list[Glyph] = []
    space = False
    for g in group:
        if g.text == " ":
            space = bool(out)
            continue
        rise = g.y0 - g.base - descent * g.size
        g.sup = g.size <= _SUPERSCRIPT_SIZE * size and rise > _SUPERSCRIPT_RISE * size
        if out:
            prev = out[-1]
            wide = g.x0 - prev.x1 > _SPACE_GAP * min(size, max(prev.size, g.size))
            if space or (wide and prev.sup == g.sup):
                out.append(
                    Glyph(" ", g.size, prev.x1, g.y0, g.x0, g.y1, g.base, g.sup and prev.sup)
                )
        out.append(g)
        space = False
    return PdfLine(out, size)


def _links(annots: Any) -> list[Link]:
    """URI link annotations of a page (other annotations and actions are ignored)."""
    from pdfminer.pdftypes import resolve1

    links = []
    for annot in resolve1(annots) or []:
        a = resolve1(annot)
        if not isinstance(a, dict) or str(resolve1(a.get("Subtype"))) != "/'Link'":
            continue
        action = resolve1(a.get("A"))
        uri = resolve1(action.get("URI")) if isinstance(action, dict) else None
        if isinstance(uri, bytes):
            uri = uri.decode("utf-8", "replace")
        if not isinstance(uri, str) or not uri.strip():
            continue
        rects = _rects(resolve1(a.get("QuadPoints")), resolve1(a.get("Rect")))
        if rects:
            links.append(Link(uri.strip(), rects))
    return links


def _rects(quads: Any, rect: Any) -> list[tuple[float, float, float, float]]:
    def num(v: Any) -> float:
        from pdfminer.pdftypes import resolve1

        return float(resolve1(v))

    out = []
    if isinstance(quads, list) and len(quads) >= 8 and len(quads) % 8 == 0:
        for k in range(0, len(quads), 8):
            xs = [num(v) for v in quads[k : k + 8 : 2]]
            ys = [num(v) for v in quads[k + 1 : k + 8 : 2]]
            out.append((min(xs), min(ys), max(xs), max(ys)))
    elif isinstance(rect, list) and len(rect) == 4:
        x0, y0, x1, y1 = (num(v) for v in rect)
        out.append((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    return out


def _info_title(document: Any) -> str | None:
    from pdfminer.pdftypes import resolve1
    from pdfminer.utils import decode_text

    for info in document.info or []:
        value = resolve1(info.get("Title"))
        if isinstance(value, bytes):
            text = decode_text(value).strip()
            if text and text.lower() not in ("untitled", "title", "document"):
                return text
    return None
