"""Which captures belong to a source (verify/provenance.belonging_problem): its URL or
alternates as asked, a site adapter's extra view, a memento of them, and the URL reached
only through the recorded redirect chain."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from citearchive.verify.provenance import belonging_problem

CITED = ["https://www.example.org/news/1?utm_source=x", "https://mirror.example.net/1"]


def row(**columns: Any) -> dict[str, Any]:
    return {"id": 7, "method": "live", "redirects": None, **columns}


def test_the_cited_url_and_its_alternates_belong_as_import_matches_them() -> None:
    for asked in ["https://example.org/news/1/", "http://example.org/news/1", CITED[1]]:
        assert belonging_problem(row(requested_url=asked, url=asked), CITED) is None
    other = "https://example.org/news/2"
    problem = belonging_problem(row(requested_url=other, url=other), CITED)
    assert problem == f"capture 7 is of {other!r}, not the source's URL or alternates"


def test_a_telegram_embed_of_the_cited_post_belongs() -> None:
    post = "https://t.me/durov/123"
    embed = "https://t.me/durov/123?embed=1&mode=tme"
    assert belonging_problem(row(requested_url=embed, url=embed, method="embed"), [post]) is None
    other = "https://t.me/durov/124?embed=1&mode=tme"
    assert belonging_problem(row(requested_url=other, url=other, method="embed"), [post])


def test_a_memento_belongs_through_its_original() -> None:
    wayback = "https://web.archive.org/web/2025/https://example.org/news/1"
    good = row(requested_url=wayback, url=wayback, method="memento",
               original_url="https://example.org/news/1")  # fmt: skip
    assert belonging_problem(good, CITED) is None
    bad = {**good, "original_url": "https://example.org/elsewhere"}
    assert "is a memento of 'https://example.org/elsewhere'" in str(belonging_problem(bad, CITED))


def test_the_url_reached_must_end_the_recorded_redirect_chain() -> None:
    asked = CITED[0]
    moved = "https://www.example.org/moved"
    hops = [{"url": asked, "status": 301, "location": "/moved"},
            {"url": moved, "status": 302, "location": "final"}]  # fmt: skip
    good = row(requested_url=asked, url="https://www.example.org/final",
               redirects=json.dumps(hops))  # fmt: skip
    assert belonging_problem(good, CITED) is None
    forged = {**good, "url": "https://evil.example/final"}
    assert "its recorded redirects end at 'https://www.example.org/final'" in str(
        belonging_problem(forged, CITED)
    )
    none = {**good, "redirects": "[]"}
    assert "no recorded redirect leads from" in str(belonging_problem(none, CITED))
    # a browser lists no chain (its redirects are network records in the WARC)
    assert belonging_problem({**none, "method": "browser"}, CITED) is None


URLS = st.one_of(st.none(), st.text(max_size=40), st.sampled_from(CITED))
HOPS = st.lists(
    st.dictionaries(st.sampled_from(["url", "location", "status"]), URLS, max_size=3), max_size=3
).map(json.dumps)


@settings(max_examples=200, deadline=None)
@given(URLS, URLS, URLS, st.sampled_from(["live", "memento", "browser", "embed", None]),
       st.one_of(st.none(), st.text(max_size=60), HOPS))  # fmt: skip
def test_any_row_gets_an_answer(
    asked: str | None, reached: str | None, original: str | None, method: str | None,
    redirects: str | None,
) -> None:  # fmt: skip
    found = belonging_problem(
        row(requested_url=asked, url=reached, original_url=original, method=method,
            redirects=redirects), CITED,
    )  # fmt: skip
    assert found is None or (found.startswith("capture 7 ") and "\n" not in found)
