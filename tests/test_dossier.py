"""The evidence dossier: its data, the static export, the CLI and the Datasette page.

The archive is the README's offline example (examples/site served on 127.0.0.1, captured by
the real pipeline, checked by the real verify) plus three footnotes that need attention: a
hostile page whose text and quote carry ``<script>``, a source without URL, a page that is
gone. tests/test_dossier_browser.py opens the same export in headless Chromium.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomlkit
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner
from warcio.warcwriter import WARCWriter

from citearchive.browse.serve import make_datasette
from citearchive.capture.pipeline import fetch_sources
from citearchive.cli.app import app
from citearchive.export.dossier import export_dossier
from citearchive.export.dossier_data import PASSAGE_CHARS, Dossier, dossier_data, passage
from citearchive.sources.manifest import load_manifest
from citearchive.verify.run import verify_archive
from localserver import LocalServer, respond

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "examples" / "site"
runner = CliRunner()

HOSTILE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<title>Monitoring &lt;b&gt;report&lt;/b&gt;</title>
<script>document.title = "PWNED"</script></head><body><article>
<h1>Ceasefire monitoring report</h1>
<p>The ceasefire line held through the night, the monitoring mission said on Tuesday, and
observers counted no artillery fire along the northern sector for the first time.</p>
<p>A leaflet found near the line read: &lt;script&gt;alert("quote")&lt;/script&gt; was
printed on its back, which the mission called a prank by local teenagers.</p>
<p>Both sides accused each other of moving equipment closer to the line of contact; the
mission said it could not confirm either claim and asked for access to the area.</p>
</article></body></html>"""
HOSTILE_QUOTE = '<script>alert("quote")</script> was printed on its back'
EXTRAS = """
[[footnote]]
number = 5
text = "<script>alert('footnote')</script> Monitoring mission, “Ceasefire monitoring report”."

[[footnote]]
number = 6
text = "出典未確認の報道。"

[[footnote]]
number = 7
text = "Removed page, 2025."

[[source]]
id = "fn5"
footnotes = [5]
url = "{base}/hostile.html"
title = "Monitoring <b>report</b>"
language = "en"
quotes = ['{quote}', "This sentence was never on the page at all, in any form."]

[[source]]
id = "fn6"
footnotes = [6]
title = "未確認の報道"
language = "ja"

[[source]]
id = "fn7"
footnotes = [7]
url = "{base}/gone.html"
language = "en"
quotes = ["a passage of a page that is gone"]

[[claim]]
footnote = 5
text = "監視団は<img src=x onerror=alert(1)>停戦ラインが維持されたと報告した"

[[claim]]
footnote = 6
text = "未確認の報道によれば、次回の協議は延期された"

[[claim]]
footnote = 7
text = "その報告書は後に削除された"
"""


def _without_footnote(text: str, number: int) -> str:
    """The example's sources.toml less footnote ``number`` (its JavaScript-rendered page,
    which needs the browser; the dossier's own footnotes 5-7 take its place)."""
    doc = tomlkit.parse(text)
    for kind, key in (("footnote", "number"), ("claim", "footnote")):
        kept = [t for t in doc.get(kind, []) if t.get(key) != number]
        doc[kind] = tomlkit.aot()
        for t in kept:
            doc[kind].append(t)
    kept = [t for t in doc.get("source", []) if number not in t.get("footnotes", [])]
    doc["source"] = tomlkit.aot()
    for t in kept:
        doc["source"].append(t)
    return tomlkit.dumps(doc)


@dataclass
class Example:
    root: Path  # the archive
    sources: Path  # its sources.toml
    quotes: dict[str, list[str]]  # source id -> its quotes, as written
    claims: list[str]  # claim texts in order


def build_example(work: Path) -> Example:
    """The offline example plus three footnotes needing attention, fetched and verified."""
    shutil.copytree(REPO / "examples", work / "examples")
    with LocalServer() as server:
        for name in ("ja-commentary.html", "en-analysis.html"):
            server.route(f"/{name}", respond((SITE / name).read_bytes()))
        server.route("/ru-news-cp1251.html", respond((SITE / "ru-news-cp1251.html").read_bytes(),
                                                     content_type="text/html"))  # fmt: skip
        server.route("/ja-report.pdf", respond((SITE / "ja-report.pdf").read_bytes(),
                                               content_type="application/pdf"))  # fmt: skip
        server.route("/hostile.html", respond(HOSTILE.encode()))
        sources = work / "examples" / "sources.toml"
        text = sources.read_text(encoding="utf-8").replace("http://127.0.0.1:8000",
                                                           server.base_url.rstrip("/"))  # fmt: skip
        text = text.replace("host_delay = 0", "host_delay = 0\nfallback = false")
        text = _without_footnote(text, 5) + EXTRAS.format(
            base=server.base_url.rstrip("/"), quote=HOSTILE_QUOTE
        )
        sources.write_text(text, encoding="utf-8")
        manifest = load_manifest(sources)
        root = work / "archive"
        report = fetch_sources(manifest, root)
        assert not report.ok  # gone.html: a 404 is recorded, the run goes on
    verify_archive(manifest, root)
    return Example(
        root, sources, {s.id: list(s.quotes) for s in manifest.sources},
        [c.text for c in manifest.claims],
    )  # fmt: skip


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Example:
    return build_example(tmp_path_factory.mktemp("dossier"))


@pytest.fixture(scope="module")
def exported(example: Example, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "dossier"
    export_dossier(example.root, out)
    return out


def _data(root: Path) -> Dossier:
    conn = sqlite3.connect(root / "citearchive.db")
    try:
        return dossier_data(conn, "example", warc_dir=root / "warc")
    finally:
        conn.close()


# --- the data -------------------------------------------------------------------------------


def test_claims_in_order_with_their_verdicts(example: Example) -> None:
    d = _data(example.root)
    assert [c.text for c in d.claims] == example.claims
    assert [c.footnote for c in d.claims] == [1, 2, 3, 4, 5, 6, 7]
    verdicts = {c.cards[0].source_id: c.cards[0].verdicts for c in d.claims}
    assert verdicts["fn1"] == verdicts["fn2"] == verdicts["fn3"] == ["quote-found"]
    assert verdicts["fn4"] == ["quote-found"]  # the PDF
    assert verdicts["fn5"] == ["quote-not-found"]
    assert verdicts["fn6"] == ["unresolved"]
    assert verdicts["fn7"] == ["never-captured"]
    gone = d.claims[6].cards[0]
    assert gone.capture is None and "HTTP 404" in (gone.last_attempt or "")
    assert d.summary() == {
        "claims": 7, "traceable": 5, "quotes": 7, "quotes_anchored": 5,
        "needing_attention": 3,
        "attention": {"unresolved": ["example:6"], "never-captured": ["example:7"],
                      "quote-not-found": ["example:5"]},
    }  # fmt: skip


def test_each_quote_sits_in_its_archived_context(example: Example) -> None:
    d = _data(example.root)
    for claim in d.claims[:5]:
        card = claim.cards[0]
        cap = card.capture
        assert cap is not None and re.fullmatch(r"[0-9a-f]{64}", cap["payload_sha256"])
        quote = card.quotes[0]
        assert quote.outcome == "found"
        assert quote.matched == " ".join(example.quotes[card.source_id][0].split())
        around = len(quote.before) + len(quote.matched) + len(quote.after)
        assert around <= PASSAGE_CHARS + 2 * 60 + 2, card.source_id
        # a side is cut ("…") only after at least 60 characters of context
        assert not quote.before.startswith("…") or len(quote.before) > 60
        assert not quote.after.endswith("…") or len(quote.after) > 60
        assert quote.before or quote.after
    hostile = d.claims[4].cards[0]
    assert [q.outcome for q in hostile.quotes] == ["found", "not-found"]
    assert hostile.quotes[1].matched is None
    assert hostile.quotes[0].before.endswith("A leaflet found near the line read: ")


def test_passage_prefers_the_occurrence_after_the_stored_prefix() -> None:
    text = "Alpha said: the talks stalled. " + "x " * 200 + "Beta said: the talks stalled."
    before, _, after = passage(text, "the talks stalled", "Beta said: ")
    assert before.endswith("Beta said: ") and after == "."
    assert passage(text, "the talks stalled", "")[0] == "Alpha said: "
    assert passage(text, "not there", "") is None


@given(st.text(max_size=600), st.data())
def test_passage_always_holds_the_quote(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 80)))
    quote = text[start:end]
    found = passage(text, quote, data.draw(st.text(max_size=40)))
    if not quote:
        assert found is None
        return
    assert found is not None
    before, matched, after = found
    assert matched == re.sub(r"\s+", " ", quote)
    assert len(before) <= max(60, PASSAGE_CHARS) + 1 and len(after) <= max(60, PASSAGE_CHARS) + 1


# --- the static export ----------------------------------------------------------------------


def test_export_writes_a_self_contained_page(exported: Path, example: Example) -> None:
    page = (exported / "example.html").read_text(encoding="utf-8")
    assert '<html lang="ja">' in page and "出典検証レポート" in page  # the document's language
    for claim in example.claims:
        assert _esc(claim) in page
    assert page.count("<mark>") == 5
    assert '<blockquote class="passage" lang="ru">' in page  # the source's own language
    # Nothing is loaded: no script, stylesheet, image, font or frame from anywhere.
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", page)
    assert not re.search(r"url\(|@import", page)
    assert '--mono: "DejaVu Sans Mono"' in page  # the stylesheet, inline and not escaped
    for cid in re.findall(r'href="captures/(\d+)\.html"', page):
        assert (exported / "captures" / f"{cid}.html").is_file()
    assert (exported / "index.html").read_text(encoding="utf-8").count('href="example.html"') == 1


def test_archived_text_stays_text(exported: Path) -> None:
    page = (exported / "example.html").read_text(encoding="utf-8")
    assert "<script" not in page and "<img" not in page and "<b>report" not in page
    assert "&lt;script&gt;alert(&#34;quote&#34;)&lt;/script&gt;" in page  # in the passage
    assert "&lt;script&gt;alert(&#39;footnote&#39;)&lt;/script&gt;" in page  # the footnote
    assert "監視団は&lt;img src=x onerror=alert(1)&gt;停戦ライン" in page  # the claim
    assert "Monitoring &lt;b&gt;report&lt;/b&gt;" in page  # the title


def test_labels_follow_lang_and_links_follow_base_url(example: Example, tmp_path: Path) -> None:
    export_dossier(example.root, tmp_path / "en", lang="en", base_url="https://ex.org/ca/")
    page = (tmp_path / "en" / "example.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in page and "Evidence dossier" in page
    assert '<p class="claim-text" lang="ja">' in page  # the claims stay Japanese
    assert re.search(r'href="https://ex\.org/ca/-/citearchive/capture/\d+"', page)
    assert not (tmp_path / "en" / "captures").exists()


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- optional evidence of issues 12 and 13 --------------------------------------------------


def test_timestamp_and_screenshot_show_when_the_archive_has_them(
    example: Example, tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    shutil.copytree(example.root, root)
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64  # enough for the test: bytes with a digest
    conn = sqlite3.connect(root / "citearchive.db")
    cap = conn.execute("SELECT id, run_id, warc_filename, url FROM captures "
                       "WHERE source_id = 'fn2' AND error IS NULL").fetchone()  # fmt: skip
    with (root / "warc" / cap[2]).open("ab") as fh:
        offset = fh.tell()
        writer = WARCWriter(fh, gzip=True)
        shot = writer.create_warc_record(
            "urn:screenshot:" + cap[3], "resource", payload=io.BytesIO(png),
            warc_content_type="image/png")  # fmt: skip
        writer.write_record(shot)
        length = fh.tell() - offset
    record_id = shot.rec_headers.get_header("WARC-Record-ID")
    conn.execute(  # a token row as archive/timestamps.py writes it (a failed TSA first)
        "INSERT INTO timestamps (run_id, tsa_url, error) VALUES (?, 'http://down.test/', 'down')",
        [cap[1]],
    )
    conn.execute(
        "INSERT INTO timestamps (run_id, tsa_url, tsa_name, gen_time, token_filename) "
        "VALUES (?, 'http://tsa.test/', 'Local test TSA', '2025-08-20T10:00:00Z', 'r.tsr')",
        [cap[1]],
    )
    conn.execute("UPDATE captures SET screenshot_sha256 = ?, screenshot_warc_offset = ?, "
                 "screenshot_warc_length = ?, screenshot_record_id = ? WHERE id = ?",
                 [hashlib.sha256(png).hexdigest(), offset, length, record_id, cap[0]])  # fmt: skip
    conn.commit()
    export_dossier(root, tmp_path / "out", lang="en")
    page = (tmp_path / "out" / "example.html").read_text(encoding="utf-8")
    assert "2025-08-20T10:00:00Z · by Local test TSA" in page
    assert f'<img src="screenshots/{cap[0]}.png"' in page
    assert (tmp_path / "out" / "screenshots" / f"{cap[0]}.png").read_bytes() == png
    # a screenshot whose bytes are not what the row says is not shown
    conn.execute("UPDATE captures SET screenshot_sha256 = ? WHERE id = ?", ["0" * 64, cap[0]])
    conn.commit()
    conn.close()
    export_dossier(root, tmp_path / "out2", lang="en")
    page = (tmp_path / "out2" / "example.html").read_text(encoding="utf-8")
    assert f'<img src="screenshots/{cap[0]}.png"' not in page


# --- the command ----------------------------------------------------------------------------


def test_cli_exports_and_says_what_needs_attention(example: Example, tmp_path: Path) -> None:
    args = ["export", "dossier", "-s", str(example.sources), "-a", str(example.root)]
    done = runner.invoke(app, [*args, "-o", str(tmp_path / "d")])
    assert done.exit_code == 1, done.output  # three claims need attention
    assert "7 claims, 5 traceable, 5/7 quotes anchored, 3 needing attention" in done.output
    done = runner.invoke(app, [*args, "-o", str(tmp_path / "j"), "--json", "--lang", "en"])
    data = json.loads(done.stdout)
    assert data["documents"]["example"]["summary"]["traceable"] == 5
    for bad, says in (
        (["--lang", "fr"], "--lang fr: labels exist in ja and en"),
        (["--document", "nope"], "no document 'nope' in the archive (documents: example)"),
    ):
        done = runner.invoke(app, [*args, "-o", str(tmp_path / "x"), *bad])
        assert done.exit_code == 2 and says in done.stderr, done.output
    done = runner.invoke(app, ["export", "dossier", "-s", str(example.sources), "-a",
                               str(tmp_path / "none"), "-o", str(tmp_path / "y")])  # fmt: skip
    assert done.exit_code == 2 and "no archive here" in done.stderr


# --- in Datasette ---------------------------------------------------------------------------


def test_the_same_page_in_datasette(example: Example) -> None:
    ds = make_datasette(example.root)

    async def run() -> list[object]:
        return [await ds.client.get(p) for p in (
            "/-/citearchive/document/example", "/-/citearchive/document/example.json",
            "/-/citearchive/document/nope", "/", "/citearchive/claim_evidence")]  # fmt: skip

    page, js, missing, home, table = asyncio.run(run())
    assert page.status_code == 200
    html = page.text
    assert html.count("<mark>") == 5 and "<script" not in html
    assert "script-src 'none'" in page.headers["content-security-policy"]
    assert re.search(r'href="/-/citearchive/capture/\d+"', html)
    assert js.json()["summary"]["needing_attention"] == 3
    assert missing.status_code == 404
    assert 'href="/-/citearchive/document/example"' in home.text
    assert 'href="/-/citearchive/document/example#claim-example:1"' in table.text


def test_suggested_passages_show_as_suggestions_never_as_quotes(
    example: Example, tmp_path: Path
) -> None:
    """Issue 16: a passage `citearchive suggest` proposed is shown beside its claim, marked
    unverified; it is no quote (no <mark>, no verdict) until a person applies it."""
    root = tmp_path / "archive"
    shutil.copytree(example.root, root)
    passage = "監視団の報告書は、停戦ラインが夜通し維持されたと述べている。"
    with sqlite3.connect(root / "citearchive.db") as conn:
        conn.execute(
            "INSERT INTO suggestions (claim_id, rank, status, source_id, capture_id, passage, "
            "score, language, applied) VALUES ('example:6', 1, 'suggestion (not verified)', "
            "'fn6', NULL, ?, 0.61, 'ja', 0)",
            [passage],
        )
        conn.execute(
            "INSERT INTO suggestions (claim_id, rank, status, source_id, passage, score, "
            "applied) VALUES ('example:6', 2, 'applied', 'fn6', 'an applied one', 0.5, 1)"
        )
    export_dossier(root, tmp_path / "out", lang="en")
    page = (tmp_path / "out" / "example.html").read_text(encoding="utf-8")
    aside = page.split('data-suggestions="example:6"', 1)[1].split("</aside>", 1)[0]
    assert passage in aside and "not verified, not a quote" in aside
    assert "<mark>" not in aside and "an applied one" not in page
    assert _data(root).summary()["quotes"] == _data(example.root).summary()["quotes"]
