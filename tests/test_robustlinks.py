"""export robust-links: footnotes whose links carry Robust Links attributes, and CSL-JSON.

The archive is made the real way (warcio-written WARC files imported with import_warcs;
a memento capture row as the fallback stage writes it), and the HTML is parsed back
with BeautifulSoup.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from citearchive.archive.store import Archive
from citearchive.capture.import_warc import import_warcs
from citearchive.errors import ArchiveError
from citearchive.export.robustlinks import export_robust_links
from citearchive.sources.manifest import Manifest, parse_manifest

PAGE = (
    "<html><head><title>{title}</title></head><body><article><h1>{title}</h1><p>{text} "
    "The ministry's spokeswoman said the proposals would be studied carefully, and that a "
    "reply would follow after consultations with partners in the coming weeks.</p><p>Asked "
    "about the timetable, she declined to name a date but said that both delegations had "
    "agreed to keep the channel open and to meet again before the end of the month.</p>"
    "</article></body></html>"
)
SOURCES = """
[[document]]
id = "c1"
title = "Commentary <on> talks"
language = "en"

[[footnote]]
number = 1
text = "Briefing, see https://mid.example/brief?id=7&lang=en. <script>alert(1)</script>"
accessed = "2025-08-19"

[[footnote]]
number = 2
text = "Telegram post, deleted since."

[[footnote]]
number = 3
text = "Kremlin transcript."

[[source]]
id = "brief"
footnotes = [1]
url = "https://mid.example/brief?id=7&lang=en"
title = "Briefing \\"A&B\\""
publisher = "MFA"
published = "2025-08-18"
language = "en"

[[source]]
id = "post"
footnotes = [2]
url = "https://t.example/channel/42"

[[source]]
id = "kremlin"
footnotes = [3]
url = "http://kremlin.example/events/1"
title = "Transcript"
"""


def _warc(path: Path, records: list[tuple[str, str, str]]) -> Path:
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        for url, date, title in records:
            body = PAGE.format(title=title, text=f"Text of {title}.").encode()
            w.write_record(w.create_warc_record(
                url, "response", payload=io.BytesIO(body),
                http_headers=StatusAndHeaders("200 OK", [("Content-Type", "text/html")],
                                              protocol="HTTP/1.1"),
                warc_headers_dict={"WARC-Date": date},
            ))  # fmt: skip
    return path


@pytest.fixture
def archived(tmp_path: Path) -> tuple[Manifest, Path]:
    m = parse_manifest(SOURCES, tmp_path / "sources.toml")
    root = tmp_path / "archive"
    url = "https://mid.example/brief?id=7&lang=en"
    warc = _warc(tmp_path / "in.warc.gz", [
        (url, "2025-08-01T08:00:00Z", "Early <b>copy</b>"),
        (url, "2025-08-20T08:00:00Z", "Close copy"),
        (url, "2025-09-30T08:00:00Z", "Late copy"),
    ])  # fmt: skip
    import_warcs(m, root, [warc])
    archive = Archive.open(root)
    try:
        (first,) = archive.db.execute("SELECT warc_filename FROM captures LIMIT 1").fetchone()
        archive.insert_captures([{
            "source_id": "kremlin", "requested_url":
                "https://arch.example/web/20250101000000id_/http://kremlin.example/events/1",
            "url": "https://arch.example/web/20250101000000id_/http://kremlin.example/events/1",
            "method": "memento", "fetched_at": "2025-10-01T00:00:00Z", "status_code": 200,
            "warc_filename": first, "warc_offset": 0, "warc_length": 1, "title": "Transcript",
            "memento_datetime": "2025-01-01T00:00:00Z",
            "original_url": "http://kremlin.example/events/1", "archive_name": "arch.example",
        }])  # fmt: skip
    finally:
        archive.close()
    return m, root


def _links(html: str) -> dict[str, dict[str, str]]:
    soup = BeautifulSoup(html, "html.parser")
    return {a["data-originalurl"]: dict(a.attrs) for a in soup.select("a[data-originalurl]")}


def test_every_archived_link_is_a_robust_link(archived: tuple[Manifest, Path]) -> None:
    m, root = archived
    out = export_robust_links(m, root)
    links = _links(out.html)
    brief = links["https://mid.example/brief?id=7&lang=en"]
    assert brief["href"] == "https://mid.example/brief?id=7&lang=en"
    # the capture closest to the footnote's access date (2025-08-19), not the newest
    assert brief["data-versiondate"] == "2025-08-20"
    assert brief["data-versionurl"].startswith("/-/citearchive/archived/")
    kremlin = links["http://kremlin.example/events/1"]
    assert kremlin["data-versionurl"].startswith("https://arch.example/web/20250101000000")
    assert kremlin["data-versiondate"] == "2025-01-01"  # the archive's datetime
    post = links["https://t.example/channel/42"]
    assert "data-versionurl" not in post and out.unarchived == ["post"]
    for url, attrs in links.items():
        if url != "https://t.example/channel/42":
            assert {"data-originalurl", "data-versionurl", "data-versiondate"} <= set(attrs)


def test_base_url_points_at_the_capture_page(archived: tuple[Manifest, Path]) -> None:
    m, root = archived
    out = export_robust_links(m, root, base_url="https://evidence.example/db/")
    links = _links(out.html)
    for url in ("https://mid.example/brief?id=7&lang=en", "http://kremlin.example/events/1"):
        assert links[url]["data-versionurl"].startswith(
            "https://evidence.example/db/-/citearchive/capture/"
        )


def test_footnote_text_is_escaped_and_its_url_linked(archived: tuple[Manifest, Path]) -> None:
    m, root = archived
    html = export_robust_links(m, root).html
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("script") is None and "<script>" not in html
    first = soup.select_one("li[value='1']")
    assert first is not None
    assert "<script>alert(1)</script>" in first.get_text()  # shown as text, inert
    (link,) = [a for a in first.select("a[data-originalurl]")]
    assert link.get_text() == "https://mid.example/brief?id=7&lang=en"  # linked in place
    assert first.get_text().startswith("Briefing, see https://mid.example/brief?id=7&lang=en")
    assert soup.title is not None and soup.title.get_text() == "Footnotes: Commentary <on> talks"
    assert soup.html is not None and soup.html["lang"] == "en"
    third = soup.select_one("li[value='3']")
    assert third is not None and "Transcript" in third.get_text()  # appended: not in the text


def test_csl_json_items(archived: tuple[Manifest, Path]) -> None:
    m, root = archived
    csl = json.loads(json.dumps(export_robust_links(m, root).csl))
    by = {item["id"]: item for item in csl}
    assert set(by) == {"brief", "post", "kremlin"}
    brief = by["brief"]
    assert brief["type"] == "webpage" and brief["title"] == 'Briefing "A&B"'
    assert brief["container-title"] == "MFA" and brief["URL"].endswith("lang=en")
    assert brief["issued"] == {"date-parts": [[2025, 8, 18]]}
    assert brief["accessed"] == {"date-parts": [[2025, 8, 19]]}
    assert brief["archive_location"].startswith("/-/citearchive/archived/")
    assert brief["archive_location"] in brief["note"]
    assert by["kremlin"]["archive"] == "arch.example"
    assert "archive_location" not in by["post"] and by["post"]["URL"].startswith("https://t.")


def test_no_archive_is_an_error(tmp_path: Path) -> None:
    m = parse_manifest(SOURCES, tmp_path / "sources.toml")
    with pytest.raises(ArchiveError):
        export_robust_links(m, tmp_path / "nothing-here")
