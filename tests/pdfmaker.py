"""Typeset a small commentary PDF with reportlab, as a word processor would.

Body lines are given line by line (``int`` items are superscript footnote markers),
footnotes are set smaller at the bottom of the page they are cited on, and their
lines are also given explicitly, so a test decides exactly where a long URL wraps.
A footnote may carry a link annotation (URI action) over a span of its text, one
rectangle per line the span crosses, as PDF writers do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

CID = "HeiseiMin-W3"  # built into reportlab: Japanese, Latin and Cyrillic glyphs
pdfmetrics.registerFont(UnicodeCIDFont(CID))

BODY, NOTE, SUP, TITLE = 10.5, 8.0, 6.5, 16.0
LEFT, TOP, BOTTOM = 72.0, 780.0, 60.0


@dataclass
class Note:
    number: int
    lines: list[str]
    link: str | None = None  # URI of a link annotation ...
    linked: list[str] = field(default_factory=list)  # ... over these pieces, one per line


@dataclass
class Page:
    body: list[list[str | int]] = field(default_factory=list)  # lines; "" = paragraph break
    notes: list[Note] = field(default_factory=list)
    heading: str | None = None


def make_pdf(
    path: Path,
    title: str,
    byline: str,
    pages: list[Page],
    *,
    font: str = CID,
    endnotes: list[Note] | None = None,
    notes_heading: str = "注",
) -> Path:
    c = canvas.Canvas(str(path))
    c.setTitle(title)
    for k, page in enumerate(pages):
        y = TOP
        if k == 0:
            c.setFont(font, TITLE)
            c.drawString(LEFT, y, title)
            y -= TITLE * 2
            c.setFont(font, BODY)
            c.drawString(LEFT, y, byline)
            y -= BODY * 2.5
        if page.heading:
            c.setFont(font, BODY * 1.3)
            c.drawString(LEFT, y, page.heading)
            y -= BODY * 2
        for line in page.body:
            if line == [""]:
                y -= BODY * 0.9
                continue
            _body_line(c, font, y, line)
            y -= BODY * 1.6
        _notes_at_bottom(c, font, page.notes)
        c.setFont(font, NOTE)
        c.drawCentredString(300, 30, str(k + 1))  # running page number
        c.showPage()
    if endnotes:
        y = TOP
        c.setFont(font, BODY * 1.3)
        c.drawString(LEFT, y, notes_heading)
        y -= BODY * 2
        for note in endnotes:
            y = _note(c, font, y, note, size=BODY) - BODY * 0.4
        c.showPage()
    c.save()
    return path


def _body_line(c: canvas.Canvas, font: str, y: float, items: list[str | int]) -> None:
    x = LEFT
    for item in items:
        if isinstance(item, int):
            text = c.beginText(x, y)
            text.setFont(font, SUP)
            text.setRise(BODY * 0.38)
            text.textOut(str(item))
            text.setRise(0)  # the rise is text state: it would outlive the text object
            c.drawText(text)
            x += pdfmetrics.stringWidth(str(item), font, SUP)
        else:
            c.setFont(font, BODY)
            c.drawString(x, y, item)
            x += pdfmetrics.stringWidth(item, font, BODY)


def _notes_at_bottom(c: canvas.Canvas, font: str, notes: list[Note]) -> None:
    height = sum(len(n.lines) for n in notes) * NOTE * 1.35 + len(notes) * 2
    y = BOTTOM + height
    if notes:
        c.line(LEFT, y + NOTE * 1.2, LEFT + 150, y + NOTE * 1.2)
    for note in notes:
        y = _note(c, font, y, note, size=NOTE) - 2


def _note(c: canvas.Canvas, font: str, y: float, note: Note, *, size: float) -> float:
    marker = c.beginText(LEFT, y)
    marker.setFont(font, size * 0.75)
    marker.setRise(size * 0.4)
    marker.textOut(str(note.number))
    marker.setRise(0)
    c.drawText(marker)
    x0 = LEFT + pdfmetrics.stringWidth(str(note.number), font, size * 0.75) + 2
    for k, line in enumerate(note.lines):
        c.setFont(font, size)
        c.drawString(x0, y, line)
        if note.link and k < len(note.linked) and note.linked[k]:
            piece = note.linked[k]
            start = x0 + pdfmetrics.stringWidth(line[: line.index(piece)], font, size)
            end = start + pdfmetrics.stringWidth(piece, font, size)
            c.linkURL(note.link, (start, y - 2, end, y + size), relative=0, thickness=0)
        y -= size * 1.35
    return y
