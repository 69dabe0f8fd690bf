"""PDF bytes -> text and document-information metadata, with pdfminer.six.

pdfminer maps CID-keyed fonts (Japanese, Chinese, Korean) back to Unicode with
its bundled CMaps, so a Japanese report made with a ``HeiseiMin-W3`` font reads
as well as a Latin or Cyrillic one.

A PDF is hostile input: :func:`read_pdf` never raises. Work is capped at
``PDF_MAX_PAGES`` pages and ``PDF_MAX_SECONDS`` seconds (checked between pages;
a single page that hangs inside pdfminer is not interrupted: the extraction pool's time
limit ends it), and any failure to parse comes back as :attr:`PdfText.error`, a short
human phrase. ``MemoryError`` alone is raised: the pool's worker hit its memory ceiling
(a compressed stream that inflates to gigabytes) and is replaced.
"""

from __future__ import annotations

import io
import logging
import re
import time
from dataclasses import dataclass
from datetime import date

from pdfminer.converter import TextConverter
from pdfminer.layout import LAParams
from pdfminer.pdfdocument import PDFDocument
from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import PDFPage
from pdfminer.pdfparser import PDFParser
from pdfminer.pdftypes import resolve1
from pdfminer.utils import decode_text

PDF_MAX_PAGES = 300  # pages read before the rest of a PDF is ignored
PDF_MAX_SECONDS = 60.0  # seconds of page reading before the rest is ignored
_PLACEHOLDERS = {"untitled", "title", "document", "anonymous", "unknown", "author"}
FIRST_PDF_YEAR = 1993  # PDF 1.0; earlier CreationDates are placeholders
_PDF_DATE = re.compile(r"^(?:D:)?(\d{4})(\d{2})(\d{2})")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PdfText:
    """What a PDF yields: text plus info-dictionary fields; ``error`` when unreadable."""

    text: str | None = None
    title: str | None = None
    author: str | None = None
    published: str | None = None
    pages: int = 0
    truncated: bool = False
    error: str | None = None


def _valid_unicode(text: str) -> str:
    """Lone surrogates (from broken ToUnicode maps) become U+FFFD; pairs are joined."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _info_string(info: dict[str, object], key: str) -> str | None:
    """A document-information value as clean text (PDFDocEncoding or UTF-16)."""
    value = resolve1(info.get(key))
    if isinstance(value, bytes):
        value = decode_text(value)
    if not isinstance(value, str):
        return None
    value = " ".join(value.replace("\x00", "").split())
    return value or None


def _pdf_date(value: str | None) -> str | None:
    """``D:20240131...`` -> ``2024-01-31``; None when absent or not a real date."""
    match = _PDF_DATE.match(value or "")
    if not match:
        return None
    try:
        found = date(*(int(part) for part in match.groups()))
    except ValueError:
        return None
    return found.isoformat() if found.year >= FIRST_PDF_YEAR else None


def _metadata(document: PDFDocument) -> tuple[str | None, str | None, str | None]:
    """(title, author, published) from the first document-information dictionary.

    ``published`` is the CreationDate: when the file was made, which for a
    published report is usually its publication date. Placeholder values that
    PDF writers fill in (``untitled``, ``anonymous``) count as absent.
    """
    info = document.info[0] if document.info else {}
    title, author = (_info_string(info, key) for key in ("Title", "Author"))
    return (
        None if (title or "").lower() in _PLACEHOLDERS else title,
        None if (author or "").lower() in _PLACEHOLDERS else author,
        _pdf_date(_info_string(info, "CreationDate")),
    )


def read_pdf(
    body: bytes, max_pages: int = PDF_MAX_PAGES, max_seconds: float = PDF_MAX_SECONDS
) -> PdfText:
    """Text and metadata of a PDF; never raises (see :attr:`PdfText.error`).

    A page that breaks pdfminer ends the reading: the pages before it keep their
    text and ``error`` says what went wrong.
    """
    output = io.StringIO()
    pages, truncated, error = 0, False, None
    title = author = published = None
    try:
        document = PDFDocument(PDFParser(io.BytesIO(body)))
        title, author, published = _metadata(document)
        manager = PDFResourceManager(caching=True)
        device = TextConverter(manager, output, laparams=LAParams())
        interpreter = PDFPageInterpreter(manager, device)
        deadline = time.monotonic() + max_seconds
        for page in PDFPage.create_pages(document):
            if pages >= max_pages or time.monotonic() > deadline:
                truncated = True
                break
            interpreter.process_page(page)
            pages += 1
        device.close()
    except MemoryError:  # the worker's memory ceiling (a stream that inflates to gigabytes)
        raise
    except Exception as exc:  # hostile input: pdfminer raises many unrelated types
        logger.debug("unreadable PDF", exc_info=True)
        error = f"{type(exc).__name__}: {exc}"[:200]
    text = _valid_unicode(output.getvalue()).replace("\x0c", "\n").replace("\x00", "").strip()
    return PdfText(
        text=text or None,
        title=title,
        author=author,
        published=published,
        pages=pages,
        truncated=truncated,
        error=error,
    )
