"""HTML for the evidence dossier: the page of a document, the index, a capture's text.

One Jinja template (``templates/dossier.html``, autoescaped: archived text, titles and URLs
are data, never markup) and one stylesheet, inlined so a page is one self-contained file
that works from ``file://`` and prints to PDF. Labels in English and Japanese; every piece
of text carries its own ``lang`` so Japanese and Russian get the right fonts and line
breaking. Where links point is the caller's ``links`` object: files in the export folder
(:class:`citearchive.export.dossier.StaticLinks`) or Datasette's pages.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape

from .. import __version__
from .dossier_data import VERDICTS, Card, Dossier

TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_KANA = re.compile(r"[\u3040-\u30ff]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[A-Za-z]")


class Links(Protocol):
    """Where the page's links point."""

    home_label: str  # a label key: "contents" or "home"

    def capture(self, capture_id: int) -> str: ...
    def home(self) -> str | None: ...
    def screenshot(self, card: Card) -> str | None: ...


LABELS: dict[str, dict[str, str]] = {
    "en": {
        "kicker": "Evidence dossier", "summary": "Summary", "claims": "claims",
        "traceable": "traceable to an archived copy", "quotes_anchored": "quotes anchored",
        "attention": "need attention", "all_well": "Every claim rests on an archived copy "
        "and every quote was found in it.", "todo": "What to do", "claims_word": "claims",
        "captured": "Captured", "method": "Method", "status": "HTTP status",
        "payload": "Payload SHA-256", "timestamp": "Trusted timestamp", "by": "by",
        "archived": "Archived copy", "original": "Original URL", "last_attempt": "Last attempt",
        "no_attempt": "never attempted", "in_capture": "in capture", "verified": "verify",
        "not_verified": "not verified yet", "t:ok": "traceable", "t:failed": "untraceable",
        "suggested": "Suggested by citearchive suggest: not verified, not a quote until "
        "a person adds it to sources.toml",
        "opening": "Opening of the archived text "
        "(no quote to check)", "no_passage": "The quote as written in sources.toml:",
        "screenshot": "Screenshot", "footnote": "Footnote", "memento_of": "copy of",
        "generated": "Generated {when} by citearchive {version}. Archived text is shown as "
        "captured; each payload SHA-256 can be checked against the WARC files.",
        "contents": "Documents", "archived_text": "Archived text of capture",
        "back": "Back to the dossier", "home": "Archive home", "cites_nothing": "This "
        "footnote cites no source.",
        # verdicts
        "v:no-source": "cites no source", "v:unresolved": "unresolved",
        "v:never-captured": "never captured", "v:fixity-failed": "fixity failed",
        "v:quote-not-found": "quote not found", "v:quote-not-live": "quote no longer live",
        "v:web-archive": "rests on a web-archive copy",
        "v:quote-approximate": "quote found approximately", "v:not-verified": "not verified",
        "v:quote-found": "quote found", "v:traceable": "traceable",
        # what to do
        "do:no-source": "Add a [[source]] carrying this footnote number to sources.toml, "
        "then run citearchive fetch.",
        "do:unresolved": "Find the source's URL, add it to sources.toml, then run "
        "citearchive fetch.",
        "do:never-captured": "Run citearchive fetch again; if the site blocks it, save the "
        "page with a browser recorder and run citearchive import-warc.",
        "do:fixity-failed": "The archived bytes changed since capture: restore the WARC "
        "file from a backup, or capture the source again.",
        "do:quote-not-found": "Compare the quote with the archived text: correct it in "
        "sources.toml, or cite another source.",
        "do:quote-not-live": "The page changed after capture: the archived copy is the "
        "evidence; say so in the footnote.",
        "do:web-archive": "The original could not be captured: cite the web-archive copy, "
        "and look for the original's new address.",
        "do:quote-approximate": "Read the highlighted passage; if it says the same, copy it "
        "exactly into sources.toml.",
        "do:not-verified": "Run citearchive verify.",
        # quote outcomes and methods
        "q:found": "found exactly", "q:approximate": "found approximately (score {score})",
        "q:not-found": "not found in the archived text", "q:no-capture": "no capture to "
        "look in", "q:none": "not checked yet", "q:live-gone": "no longer on the live page",
        "m:live": "live (HTTP)", "m:browser": "browser", "m:memento": "web archive (Memento)",
        "m:import": "imported WARC", "m:alternate": "alternate URL", "m:embed": "embed view",
    },
    "ja": {
        "kicker": "出典検証レポート", "summary": "概要", "claims": "件の記述",
        "traceable": "件がアーカイブで裏付け可能", "quotes_anchored": "件の引用を照合",
        "attention": "件が要確認", "all_well": "すべての記述がアーカイブ済みの出典に基づき、"
        "すべての引用が確認されました。", "todo": "対応", "claims_word": "件",
        "captured": "取得日時", "method": "取得方法", "status": "HTTP ステータス",
        "payload": "ペイロード SHA-256", "timestamp": "信頼できるタイムスタンプ",
        "by": "発行者", "archived": "アーカイブ版", "original": "元の URL",
        "last_attempt": "最後の試行", "no_attempt": "未試行", "in_capture": "取得",
        "verified": "検証", "not_verified": "未検証", "t:ok": "追跡可能", "t:failed": "追跡不能",
        "suggested": "citearchive suggest による候補（未検証。sources.toml に引用として"
        "加えるまでは引用ではない）",
        "opening": "アーカイブ本文の冒頭（照合する引用なし）",
        "no_passage": "sources.toml に記された引用:", "screenshot": "スクリーンショット",
        "footnote": "脚注", "memento_of": "元の URL",
        "generated": "{when} に citearchive {version} で作成。アーカイブ本文は取得時のまま"
        "表示しています。各ペイロードの SHA-256 は WARC ファイルと照合できます。",
        "contents": "文書", "archived_text": "アーカイブ本文：取得",
        "back": "レポートに戻る", "home": "アーカイブのトップ",
        "cites_nothing": "この脚注は出典を挙げていません。",
        "v:no-source": "出典なし", "v:unresolved": "URL 未確定", "v:never-captured": "未取得",
        "v:fixity-failed": "固定性の検証に失敗", "v:quote-not-found": "引用が見つからない",
        "v:quote-not-live": "引用が現行ページから消失",
        "v:web-archive": "ウェブアーカイブの複製に依拠", "v:quote-approximate": "引用が近似一致",
        "v:not-verified": "未検証", "v:quote-found": "引用を確認", "v:traceable": "追跡可能",
        "do:no-source": "sources.toml にこの脚注番号の [[source]] を追加し、"
        "citearchive fetch を実行してください。",
        "do:unresolved": "出典の URL を調べて sources.toml に記入し、citearchive fetch を"
        "実行してください。",
        "do:never-captured": "citearchive fetch を再実行してください。サイトに拒否される場合は"
        "ブラウザのレコーダーで保存し、citearchive import-warc で取り込んでください。",
        "do:fixity-failed": "取得後にアーカイブのバイト列が変わっています。WARC ファイルを"
        "バックアップから復元するか、出典を取得し直してください。",
        "do:quote-not-found": "引用とアーカイブ本文を見比べ、sources.toml の引用を訂正するか、"
        "別の出典を挙げてください。",
        "do:quote-not-live": "取得後にページが変更されました。アーカイブ版が根拠です。"
        "脚注でその旨を示してください。",
        "do:web-archive": "元のページを取得できませんでした。ウェブアーカイブの複製を挙げ、"
        "元のページの移転先を探してください。",
        "do:quote-approximate": "強調された箇所を読み、同じ内容であれば sources.toml に"
        "正確に写してください。",
        "do:not-verified": "citearchive verify を実行してください。",
        "q:found": "完全一致", "q:approximate": "近似一致（スコア {score}）",
        "q:not-found": "アーカイブ本文に見つからない", "q:no-capture": "照合できる取得なし",
        "q:none": "未照合", "q:live-gone": "現行ページには見当たらない",
        "m:live": "ライブ取得（HTTP）", "m:browser": "ブラウザ", "m:memento": "ウェブアーカイブ"
        "（Memento）", "m:import": "WARC 取り込み", "m:alternate": "代替 URL",
        "m:embed": "埋め込み表示",
    },
}  # fmt: skip


def label_language(dossier: Dossier | None, lang: str | None) -> str:
    """``lang`` when given, else the document's language when there are labels for it."""
    if lang:
        return lang if lang in LABELS else "en"
    doc_lang = (dossier.document.get("language") if dossier else None) or "en"
    return doc_lang if doc_lang in LABELS else "en"


def text_language(text: str | None, default: str | None) -> str | None:
    """The language to mark a mixed-script field with (a Russian footnote in a Japanese
    commentary): kana → ja; mostly Cyrillic → ru; Latin only → en; else ``default``."""
    if not text:
        return default
    if _KANA.search(text):
        return "ja"
    cyr, lat = len(_CYRILLIC.findall(text)), len(_LATIN.findall(text))
    if cyr > lat:
        return "ru"
    if lat and not _CJK.search(text) and (default or "en") in ("ja", "zh", "ko", "ru"):
        return "en"
    return default


def safe_url(url: Any) -> str | None:
    """``url`` when a page may link to it (http or https), else None."""
    if not isinstance(url, str) or any(c in url for c in "\r\n\t "):
        return None
    return url if urlsplit(url).scheme.lower() in ("http", "https") else None


def _context(lang: str | None, dossier: Dossier | None) -> dict[str, Any]:
    code = label_language(dossier, lang)
    labels = LABELS[code]
    return {
        "lang": code, "L": labels, "severity": VERDICTS, "version": __version__,
        "css": (TEMPLATES / "dossier.css").read_text(encoding="utf-8"),
        "text_lang": text_language, "safe_url": safe_url,
        "quote_label": lambda q: (labels["q:approximate"].format(score=q.score)
                                  if q.outcome == "approximate"
                                  else labels[f"q:{q.outcome or 'none'}"]),
        "method_label": lambda m: labels.get(f"m:{m}", m or ""),
    }  # fmt: skip


def render_dossier(dossier: Dossier, *, lang: str | None, links: Links) -> str:
    """The dossier page of one document."""
    template = _env.get_template("dossier.html")
    return template.render(
        page="dossier", d=dossier, summary=dossier.summary(), links=links,
        doc_lang=dossier.document.get("language"), **_context(lang, dossier),
    )  # fmt: skip


def render_index(dossiers: list[Dossier], pages: dict[str, Path], *, lang: str | None) -> str:
    """The export folder's index: one link per document's dossier."""
    entries = [(d, pages[str(d.document["id"])].name, d.summary()) for d in dossiers]
    return _env.get_template("dossier.html").render(
        page="index", entries=entries, **_context(lang, dossiers[0] if dossiers else None)
    )


def render_capture_text(
    card: Card, text: str, dossier: Dossier, *, lang: str | None, back: str
) -> str:
    """A capture's whole archived text, its quotes marked, for the static export."""
    cid = (card.capture or {}).get("id")
    spans = sorted(
        at for q in card.quotes
        if q.matched and q.capture_id == cid and (at := _find_folded(text, q.matched, 0))
    )  # fmt: skip
    pieces: list[tuple[str, bool]] = []
    pos = 0
    for a, b in spans:
        if a < pos:  # overlaps the previous quote
            continue
        pieces += [(text[pos:a], False), (text[a:b], True)]
        pos = b
    pieces.append((text[pos:], False))
    return _env.get_template("dossier.html").render(
        page="capture",
        card=card,
        pieces=pieces,
        d=dossier,
        back=back,
        **_context(lang, dossier),
    )


def _find_folded(text: str, folded: str, start: int) -> tuple[int, int] | None:
    """Where ``folded`` (whitespace runs as one space) occurs in ``text`` from ``start``."""
    words = [re.escape(w) for w in folded.split(" ") if w]
    if not words:
        return None
    m = re.compile(r"\s+".join(words)).search(text, start)
    return (m.start(), m.end()) if m else None
