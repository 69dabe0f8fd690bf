"""`import commentary.pdf`: PDFs typeset in the test run, footnotes, links, wrapped URLs, lint."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from citearchive.cli.app import app
from citearchive.errors import CommentaryError
from citearchive.sources.commentary import read_commentary
from citearchive.sources.importer import import_commentary
from citearchive.sources.pdf_commentary import rejoin_lines
from pdfmaker import Note, Page, make_pdf

# Each URL wraps in a different place; (printed lines of the footnote, link or None).
KREMLIN = "http://www.kremlin.ru/events/president/news/77777"
URLS = {
    1: KREMLIN,  # after "/", with a link annotation over the printed URL
    2: "https://www.bbc.com/news/articles/c0-ke9xz4dpo",  # after "-"
    3: "https://www.nids.mod.go.jp/publication/commentary/commentary_370.html",  # after "_"
    4: "https://www.rg.ru/2025/06/02/rossijskij-memorandum.html",  # after "."
    5: "https://www.kommersant.ru/doc/7881234?from=main_1",  # after "?"
    6: "https://edition.cnn.com/search?q=ukraine&page=2",  # after "="
    7: "https://www.interfax.ru/russia/1042813",  # mid-word, no annotation
    8: "https://understandingwar.org/backgrounder/russian-offensive-campaign-assessment-july-25-2025",
    9: "https://www.bbc.com/news/articles/cx2jlmdyg0do",  # link over the title only
    10: "https://currenttime.tv/a/33512345.html",  # mid-word, link annotation decides
    11: "https://t.me/systemasystema/63",
}


def _notes() -> dict[int, Note]:
    return {
        1: Note(1, ["«Совместная пресс-конференция Президента России и Президента США»,",
                    "President of Russia, August 16, 2025, http://www.kremlin.ru/events/president/",
                    "news/77777"],
                link=KREMLIN, linked=["", "http://www.kremlin.ru/events/president/", "news/77777"]),
        2: Note(2, ["“Trump threatens tariffs,” BBC, July 14, 2025, https://www.bbc.com/news/articles/c0-",
                    "ke9xz4dpo"]),
        3: Note(3, ["山添博史「ロシア・ウクライナの 2022 年停戦協議文書」",
                    "防衛研究所、2025 年 4 月 15 日、",
                    "https://www.nids.mod.go.jp/publication/commentary/commentary_",
                    "370.html"]),
        4: Note(4, ["«Российский меморандум», Rossiiskaia Gazeta, June 2, 2025, https://www.rg.ru/2025/06/02/rossijskij-memorandum.",
                    "html"]),
        5: Note(5, ["«И ты, Трамп», Kommersant, July 14, 2025, https://www.kommersant.ru/doc/7881234?",
                    "from=main_1"]),
        6: Note(6, ["“White House signals momentum,” CNN, August 17, 2025, https://edition.cnn.com/search?q=",
                    "ukraine&page=2 (accessed August 19, 2025)"]),
        7: Note(7, ["«МИД заявил», Interfax, August 18, 2025, https://www.inter",
                    "fax.ru/russia/1042813"]),
        8: Note(8, ["“Russian Offensive Campaign Assessment, July 25, 2025,” ISW, July 25, 2025,",
                    "https://understandingwar.org/backgrounder/russian-offensive-campaign-",
                    "assessment-july-25-2025"]),
        9: Note(9, ["“Putin not swayed by Trump's Ukraine war ultimatum,” BBC, August 2, 2025."],
                link=URLS[9], linked=["Putin not swayed by Trump's Ukraine war ultimatum"]),
        10: Note(10, ["«Песков о переговорах», Current Time, August 18, 2025, https://currenttime.tv/a/335",
                      "12345.html"],
                 link=URLS[10], linked=["https://currenttime.tv/a/335", "12345.html"]),
        11: Note(11, ["«Комментарий Ушакова», Telegram, August 19, 2025, https://t.me/systemasystema/63"]),
    }  # fmt: skip


@pytest.fixture(scope="module")
def japanese_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three pages of Japanese body text; marker 11 misprinted as 1 on the last page."""
    n = _notes()
    pages = [
        Page(body=[["2025 年 8 月 15 日、米露首脳会談が行われた", 1, "。トランプ大統領は"],
                   ["関税を警告した", 2, "。防衛研究所は以前にも論じた", 3, "。"], [""],
                   ["ロシアは覚書を公表した", 4, "。"]],
             notes=[n[1], n[2], n[3], n[4]]),
        Page(heading="ロシアの要求の経緯",
             body=[["ロシアは「根本的原因」を強調した", 5, "。CNN によれば", 6, "、ロシア外務"],
                   ["省は派兵を拒否した", 7, "。ISW の評価もある", 8, "。"]],
             notes=[n[5], n[6], n[7], n[8]]),
        Page(body=[["プーチン大統領は動じなかった", 9, "。ペスコフ報道官も述べた", 10, "。"],
                   ["ウシャコフ補佐官が電話会談の結果を説明した", 1, "。"]],
             notes=[n[9], n[10], n[11]]),
    ]  # fmt: skip
    path = tmp_path_factory.mktemp("pdf") / "commentary.pdf"
    return make_pdf(path, "ロシア・ウクライナの停戦をめぐる協議", "地域研究部 山添 博史", pages)


def test_japanese_pdf_recovers_every_url_and_the_lost_digit(japanese_pdf: Path) -> None:
    c = read_commentary(japanese_pdf)
    assert c.fmt == "pdf"
    assert (c.title, c.author, c.language) == (
        "ロシア・ウクライナの停戦をめぐる協議",
        "山添博史",
        "ja",
    )
    assert [f.number for f in c.footnotes] == list(range(1, 12))
    assert {f.number: f.urls for f in c.footnotes} == {k: [u] for k, u in URLS.items()}
    assert c.footnote(1).title == "Совместная пресс-конференция Президента России и Президента США"
    assert c.footnote(1).publisher == "President of Russia"
    assert c.footnote(9).title == "Putin not swayed by Trump's Ukraine war ultimatum"
    assert c.footnote(3).published == "2025-04-15"
    assert c.footnote(6).accessed == "2025-08-19"
    assert [m.number for m in c.markers] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1]
    claims = {cl.text for cl in c.claims}
    assert (
        "CNN によれば、ロシア外務省は派兵を拒否した" in claims
    )  # line break in Japanese: no space
    assert "ウシャコフ補佐官が電話会談の結果を説明した" in claims
    codes = sorted((w.code, w.footnote, w.suggested) for w in c.warnings)
    assert codes == [("reused-marker", 1, 11), ("unreferenced-footnote", 11, None)]
    reused = next(w for w in c.warnings if w.code == "reused-marker")
    assert "was 11 meant at page 3 line 2?" in reused.message


def test_import_pdf_writes_sources_toml(japanese_pdf: Path, tmp_path: Path) -> None:
    out = tmp_path / "sources.toml"
    report = import_commentary(japanese_pdf, out)
    assert report.found == {"markers": 11, "footnotes": 11, "claims": 11}
    data = tomllib.loads(out.read_text(encoding="utf-8"))
    assert {s["id"]: s["url"] for s in data["source"]} == {f"fn{k}": u for k, u in URLS.items()}
    again = import_commentary(japanese_pdf, out)
    assert again.changes == [] and not again.written


def test_cli_import_pdf_json(japanese_pdf: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.toml"
    result = CliRunner().invoke(app, ["import", str(japanese_pdf), "-o", str(out), "--json"])
    assert result.exit_code == 1, result.output  # the lint found the lost digit
    report = json.loads(result.stdout)
    assert report["added"]["sources"] == 11
    assert {w["code"] for w in report["warnings"]} == {"reused-marker", "unreferenced-footnote"}


@pytest.mark.parametrize(
    ("title", "body", "note", "language"),
    [
        ("Переговоры о прекращении огня", [["Президент заявил о прогрессе", 1, "."]],
         ["«Заявление для прессы», Kremlin, August 16, 2025, https://www.kremlin.ru/",
          "events/president/transcripts/77777"], "ru"),
        ("Ceasefire talks in Washington", [["The president claimed progress", 1, "."]],
         ["“Press statement,” White House, August 16, 2025, https://www.whitehouse.gov/",
          "briefings-statements/2025/08/statement/"], "en"),
    ],
)  # fmt: skip
def test_russian_and_english_pdfs(
    tmp_path: Path, title: str, body: list[list[str | int]], note: list[str], language: str
) -> None:
    path = make_pdf(
        tmp_path / "c.pdf", title, "Ivan Petrov", [Page(body=body, notes=[Note(1, note)])]
    )
    c = read_commentary(path)
    assert (c.title, c.language, c.warnings) == (title, language, [])
    assert c.footnotes[0].urls == [note[0].rsplit(", ", 1)[1] + "".join(note[1:])]
    assert c.claims[0].text == str(body[0][0])


def test_endnotes_after_a_notes_heading(tmp_path: Path) -> None:
    notes = [Note(1, ["“A,” BBC, July 1, 2025, https://www.bbc.co.uk/news/world-", "europe-1"]),
             Note(2, ["“B,” CNN, July 2, 2025, https://cnn.com/b"])]  # fmt: skip
    body = [["The first claim", 1, ". The second claim", 2, "."]]
    path = make_pdf(tmp_path / "e.pdf", "Closing notes", "J. Smith", [Page(body=body)],
                    endnotes=notes, notes_heading="Notes")  # fmt: skip
    c = read_commentary(path)
    assert [f.urls for f in c.footnotes] == [["https://www.bbc.co.uk/news/world-europe-1"],
                                             ["https://cnn.com/b"]]  # fmt: skip
    assert [cl.text for cl in c.claims] == ["The first claim", "The second claim"]


def test_printed_url_that_differs_from_its_link(tmp_path: Path) -> None:
    printed = "https://www.bbc.com/news/a1"
    note = Note(1, [f"“A,” BBC, July 1, 2025, {printed}"],
                link=printed + "1", linked=[printed])  # fmt: skip
    path = make_pdf(tmp_path / "m.pdf", "Mismatch", "J. Smith",
                    [Page(body=[["A claim", 1, "."]], notes=[note])])  # fmt: skip
    c = read_commentary(path)
    assert c.footnotes[0].urls == ["https://www.bbc.com/news/a11"]
    (w,) = c.warnings
    assert w.code == "url-mismatch" and "https://www.bbc.com/news/a1 " in w.message


def test_not_a_pdf_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.7\n garbage that is no PDF at all")
    with pytest.raises(CommentaryError, match=r"broken\.pdf: not a readable PDF"):
        read_commentary(bad)
    result = CliRunner().invoke(app, ["import", str(bad), "-o", str(tmp_path / "s.toml")])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "broken.pdf" in result.stderr
    assert not (tmp_path / "s.toml").exists()


# --- rejoining URLs that a line break split ----------------------------------------------------

_SEGMENT = st.text("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789", min_size=1, max_size=8)


@st.composite
def _wrapped_url(draw: st.DrawFn) -> tuple[str, list[str]]:
    host = draw(st.sampled_from(["www.kremlin.ru", "rg.ru", "nids.mod.go.jp", "bbc.co.uk"]))
    url = f"https://{host}"
    for _ in range(draw(st.integers(1, 6))):
        url += draw(st.sampled_from("/-_.?=&")) + draw(_SEGMENT)
    # a line may break after any of / - _ . ? = (never inside "https://")
    points = [i + 1 for i, ch in enumerate(url[:-1]) if ch in "/-_.?=" and i > len("https://")]
    breaks = sorted(draw(st.sets(st.sampled_from(points), max_size=3))) if points else []
    pieces = [url[a:b] for a, b in zip([0, *breaks], [*breaks, len(url)], strict=True)]
    return url, pieces


@given(_wrapped_url(), st.sampled_from(["", " (accessed 2025-08-19)", "。", " Accessed 1 May."]))
def test_rejoin_recovers_a_url_broken_after_punctuation(
    case: tuple[str, list[str]], after: str
) -> None:
    url, pieces = case
    lines = ["“Title,” BBC, July 14, 2025,", *pieces]
    if after.startswith("。"):
        lines[-1] += after
    elif after:
        lines.append(after.strip())
    text = rejoin_lines(lines)
    assert text == f"“Title,” BBC, July 14, 2025, {url}{after}"


@given(st.lists(st.text(min_size=1, max_size=20).filter(lambda s: s.strip() == s), max_size=6))
def test_rejoin_never_loses_text(lines: list[str]) -> None:
    text = rejoin_lines(lines)
    assert text.replace(" ", "") == "".join(lines).replace(" ", "")
