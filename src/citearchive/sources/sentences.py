"""Sentences and scripts of Japanese, English and Russian text.

The commentary stage needs three small things that general NLP libraries do
badly on mixed Japanese/Russian/English citation text:

- where a sentence ends (``。！？`` need no space after them, ``. ! ?`` do; a
  ``。`` inside 「…」 or （…） ends nothing; ``Mr.`` and ``U.S.`` end nothing);
- whether a paragraph ends a sentence at all (PDF page breaks cut sentences in
  two: a paragraph without sentence-final punctuation continues in the next);
- how to glue two pieces of text (no space between Japanese characters);

plus a script-based guess of a short title's language (kana -> ja, Cyrillic
-> ru, Latin -> en), which is more reliable than a statistical model on ten words.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Collection
from dataclasses import dataclass

#: Characters that end a paragraph's last sentence (after closing brackets are stripped).
PARAGRAPH_FINAL = "。．！？.!?…"
#: Sentence-final marks of Japanese: a sentence ends right after them, no space needed.
CJK_TERMINALS = "。．！？"
#: Sentence-final marks of English and Russian: a sentence ends only before whitespace.
LATIN_TERMINALS = ".!?"
#: Bracket pairs whose inside is never split (a quoted sentence is part of the outer one).
# fmt: off
PAIRS = {
    "「": "」",
    "『": "』",
    "（": "）",
    "(": ")",
    "“": "”",
    "«": "»",
    "【": "】",
    "〔": "〕",
    "［": "］",
    "〈": "〉",
    "《": "》",
}
# fmt: on
#: Characters that may follow a sentence-final mark and still belong to the sentence.
CLOSERS = "」』）)】〕］〉》”’\"'»›]"
#: Words that end with a period without ending the sentence (compared lower-case).
# fmt: off
ABBREVIATIONS = frozenset((
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "gen", "col", "lt", "sgt", "capt",
    "adm", "gov", "sen", "rep", "pres", "amb", "rev", "hon", "vs", "etc", "al", "cf", "fig",
    "no", "nos", "vol", "vols", "pp", "ed", "eds", "p", "op", "approx", "est", "dept",
    "univ", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec",
    "г", "гг", "т", "тыс", "млн", "млрд", "им", "ул", "см", "др", "пр", "проф", "акад", "ген",
))
# fmt: on


def is_cjk(ch: str) -> bool:
    """True for Han, kana, Hangul, CJK punctuation and full-width forms."""
    cp = ord(ch)
    return (
        0x3000 <= cp <= 0x30FF  # CJK symbols and punctuation, hiragana, katakana
        or 0x31F0 <= cp <= 0x31FF  # katakana phonetic extensions
        or 0x3400 <= cp <= 0x4DBF  # Han extension A
        or 0x4E00 <= cp <= 0x9FFF  # Han
        or 0xAC00 <= cp <= 0xD7AF  # Hangul syllables
        or 0xF900 <= cp <= 0xFAFF  # Han compatibility
        or 0xFF00 <= cp <= 0xFFEF  # full-width and half-width forms
        or 0x20000 <= cp <= 0x2FFFF  # Han extensions B-F
    )


def joiner(before: str, after: str) -> str:
    """The separator to put between two pieces of one sentence: "" next to Japanese, else " "."""
    a, b = before.rstrip(), after.lstrip()
    if not a or not b:
        return ""
    return "" if is_cjk(a[-1]) or is_cjk(b[0]) else " "


def join_pieces(pieces: list[str]) -> str:
    """Join text pieces (lines, paragraphs) with :func:`joiner`, trimming each."""
    out = ""
    for piece in pieces:
        piece = piece.strip()
        if piece:
            out = out + joiner(out, piece) + piece if out else piece
    return out


def ends_sentence(text: str) -> bool:
    """True when ``text`` (markers already removed) ends with sentence-final punctuation.

    Closing quotes and brackets after the mark are allowed: 「…だ。」 and “… stop.” end.
    """
    t = text.rstrip()
    while t and (t[-1] in CLOSERS or t[-1].isspace()):
        t = t[:-1]
    return bool(t) and t[-1] in PARAGRAPH_FINAL


def protected(text: str) -> list[bool]:
    """For each character, whether it lies inside a *closed* bracket or quote pair.

    An opener without its closer protects nothing, so one stray "(" cannot swallow a
    paragraph.
    """
    opener_of = {close: open_ for open_, close in PAIRS.items()}
    depth_change = [0] * (len(text) + 1)
    stack: list[tuple[str, int]] = []
    for i, ch in enumerate(text):
        if ch in PAIRS:
            stack.append((ch, i))
        elif ch in opener_of:
            want = opener_of[ch]
            for k in range(len(stack) - 1, -1, -1):
                if stack[k][0] == want:
                    start = stack[k][1]
                    del stack[k:]
                    depth_change[start + 1] += 1
                    depth_change[i] -= 1
                    break
    inside, depth = [], 0
    for i in range(len(text)):
        depth += depth_change[i]
        inside.append(depth > 0)
    return inside


def sentence_starts(text: str, breaks: Collection[int] = ()) -> list[int]:
    """Offsets where the sentences of ``text`` start (the first is always 0).

    ``breaks`` are offsets that count as whitespace (where a footnote marker was removed,
    as in ``said.<sup>1</sup>Next``).
    """
    inside = protected(text)
    starts = [0]
    n, i = len(text), 0
    while i < n:
        ch = text[i]
        if inside[i] or (ch not in CJK_TERMINALS and ch not in LATIN_TERMINALS):
            i += 1
            continue
        j = i + 1
        while j < n and (text[j] in CJK_TERMINALS or text[j] in LATIN_TERMINALS):
            j += 1
        while j < n and text[j] in CLOSERS and not inside[j - 1]:
            j += 1
        k = j
        while k < n and text[k].isspace():
            k += 1
        if k >= n:
            break
        if ch in CJK_TERMINALS or _latin_boundary(text, i, j, k, breaks):
            starts.append(k)
        i = max(k, i + 1)
    return starts


def _latin_boundary(text: str, mark: int, end: int, nxt: int, breaks: Collection[int]) -> bool:
    """Whether ". ! ?" at ``mark`` ends an English or Russian sentence."""
    if nxt == end and end not in breaks:
        return False  # no space after the mark: "3.5", "U.S.A", "example.com"
    following = text[nxt]
    if following.isalpha() and following.islower():
        return False
    if text[mark] == "." and end == mark + 1:
        word = _word_before(text, mark, breaks)
        if "." in word or (len(word) == 1 and word.isalpha()) or word.lower() in ABBREVIATIONS:
            return False
    return True


def _word_before(text: str, i: int, breaks: Collection[int] = ()) -> str:
    """The run of non-space characters ending just before ``i``, without opening brackets."""
    j = i
    while j > 0 and not text[j - 1].isspace() and j not in breaks:
        j -= 1
    return text[j:i].lstrip("".join(PAIRS) + "\"'")


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, each stripped."""
    starts = sentence_starts(text)
    bounds = [*starts, len(text)]
    return [text[a:b].strip() for a, b in itertools.pairwise(bounds) if text[a:b].strip()]


def _script_counts(text: str) -> dict[str, int]:
    """Letters of ``text`` per script: kana, han, hangul, cyrillic, ukrainian, latin."""
    counts = dict.fromkeys(("kana", "han", "hangul", "cyrillic", "ukrainian", "latin"), 0)
    for ch in text:
        cp = ord(ch)
        if 0x3040 <= cp <= 0x30FF or 0x31F0 <= cp <= 0x31FF or 0xFF66 <= cp <= 0xFF9F:
            counts["kana"] += 1
        elif 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF:
            counts["han"] += 1
        elif 0xAC00 <= cp <= 0xD7AF:
            counts["hangul"] += 1
        elif 0x0400 <= cp <= 0x04FF:
            counts["cyrillic"] += 1
            counts["ukrainian"] += ch in "іїєґІЇЄҐ"
        elif (ch.isascii() and ch.isalpha()) or 0x00C0 <= cp <= 0x024F:
            counts["latin"] += 1
    return counts


def _language_of(counts: dict[str, int]) -> str | None:
    """The language of the script with most letters (Han and kana together are ja)."""
    totals = {
        "ja": counts["han"] + counts["kana"],
        "ko": counts["hangul"],
        "ru": counts["cyrillic"],
        "en": counts["latin"],
    }
    best = max(totals, key=lambda k: totals[k])
    if totals[best] == 0:
        return None
    if best == "ru" and counts["ukrainian"]:
        return "uk"
    return best


def script_language(text: str | None) -> str | None:
    """Guess an ISO 639-1 code from the script of a short text such as a title.

    Any kana -> ja (a Japanese title may be mostly Han or Latin), Hangul -> ko,
    otherwise the script with most letters: Han -> ja (this tool's commentaries are
    Japanese), Cyrillic -> ru (uk when і/ї/є/ґ occur), Latin -> en. ``None`` when
    there are no letters.
    """
    if not text:
        return None
    counts = _script_counts(text)
    if counts["kana"]:
        return "ja"
    if counts["hangul"]:
        return "ko"
    return _language_of(counts)


def text_language(text: str | None) -> str | None:
    """Guess the language of a long text (a commentary body) by its dominant script."""
    return _language_of(_script_counts(text)) if text else None


# --- Markdown-ish text: blocks and paragraphs ------------------------------------------

LINK_RE = re.compile(
    r"!?\[(?P<text>(?:[^\[\]]|\[[^\[\]]*\])*)\]"
    r"\(\s*<?(?P<target>(?:[^()\s<>]|\([^()\s]*\))*)>?(?:\s+[\"'][^\"']*[\"'])?\s*\)"
)
AUTOLINK_RE = re.compile(r"<(?P<url>https?://[^>\s]+)>")
EMPHASIS_RE = re.compile(r"(\*{1,3})(?=\S)(?P<text>.+?)(?<=\S)\1")
TAG_RE = re.compile(r"</?[A-Za-z][^<>]*>")
MARKER_RE = re.compile(r"<sup>\s*\[?(?P<nums>\d+(?:\s*[,，、\-–]\s*\d+)*)\]?\s*</sup>", re.I)
DEF_RE = re.compile(
    r"^\s*(?:[-*+]\s+|\d+[.)]\s+)?<sup>\s*\[?(?P<n>\d+)\]?\s*</sup>\s*(?P<rest>.*)$", re.I
)
HEADING_RE = re.compile(r"^\s{0,3}(?P<hashes>#{1,6})\s+(?P<text>.*?)(?:\s+#+)?\s*$")
RULE_RE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
SETEXT_RE = re.compile(r"^\s{0,3}(?:=+|-+)\s*$")
ITEM_RE = re.compile(r"^\s*(?:[-*+]|\d+[.)])(?:\s+|$)")
FENCE_RE = re.compile(r"^\s*(?:```|~~~)")
_NOT_DEF_START = tuple("。．、，.,;:!?！？)）」』")


@dataclass
class Line:
    """One line of the commentary in the Markdown <sup>n</sup> shape, with its source line."""

    text: str
    lineno: int


@dataclass
class Block:
    """Consecutive lines forming a paragraph, list item, heading or rule."""

    kind: str  # para | item | heading | rule
    lines: list[Line]
    level: int = 0


# --- blocks and footnote definitions ----------------------------------------------------


def split_blocks(lines: list[Line]) -> tuple[list[Block], list[tuple[int, list[Line]]]]:
    """Split lines into body blocks and footnote definitions (number, lines)."""
    blocks: list[Block] = []
    defs: list[tuple[int, list[Line]]] = []
    current: Block | None = None
    open_def: list[Line] | None = None
    blank = in_fence = False

    def flush() -> None:
        nonlocal current
        if current and any(
            inline(ln.text)[0].strip() or MARKER_RE.search(ln.text) for ln in current.lines
        ):
            blocks.append(current)
        current = None

    for line in lines:
        t = line.text
        if in_fence or FENCE_RE.match(t):
            in_fence = in_fence != bool(FENCE_RE.match(t))
            flush()
            continue
        if not t.strip():
            flush()
            blank = True
            continue
        m = DEF_RE.match(t)
        # A definition starts a block; "<sup>1</sup> and so" inside a paragraph is a marker.
        starts_block = blank or current is None or open_def is not None or ITEM_RE.match(t)
        if m and starts_block and not m.group("rest").startswith(_NOT_DEF_START):
            flush()
            open_def = [Line(m.group("rest"), line.lineno)]
            defs.append((int(m.group("n")), open_def))
            blank = False
            continue
        if open_def is not None:
            continues = not blank or t.startswith(("  ", "\t"))
            if continues and not _structural(t):
                open_def.append(Line(t.strip(), line.lineno))
                blank = False
                continue
            open_def = None
        t = re.sub(r"^\s{0,3}>\s?", "", t)
        if heading := HEADING_RE.match(t):
            flush()
            blocks.append(
                Block("heading", [Line(heading["text"], line.lineno)], len(heading["hashes"]))
            )
        elif current and current.kind == "para" and not blank and SETEXT_RE.match(t):
            current.kind, current.level = "heading", 1 if "=" in t else 2
            flush()
        elif RULE_RE.match(t):
            flush()
            blocks.append(Block("rule", [line]))
        elif ITEM_RE.match(t) or t.lstrip().startswith("|"):
            flush()
            current = Block("item", [Line(ITEM_RE.sub("", t, count=1), line.lineno)])
        elif current and not blank:
            current.lines.append(Line(t, line.lineno))
        else:
            flush()
            current = Block("para", [Line(t, line.lineno)])
        blank = False
    flush()
    return blocks, defs


def _structural(text: str) -> bool:
    """A heading, rule or list item: never the continuation of a footnote definition."""
    return bool(HEADING_RE.match(text) or RULE_RE.match(text) or ITEM_RE.match(text))


# --- inline text, paragraphs, sentences -------------------------------------------------


def inline(raw: str) -> tuple[str, list[tuple[int, int]]]:
    """Plain text of a Markdown/HTML line and its markers as (offset, footnote number)."""
    s = LINK_RE.sub(lambda m: m.group("text"), raw)
    s = AUTOLINK_RE.sub(lambda m: m.group("url"), s)
    s = EMPHASIS_RE.sub(lambda m: m.group("text"), s)
    out: list[str] = []
    marks: list[tuple[int, int]] = []
    length = pos = 0
    for m in re.finditer(f"{MARKER_RE.pattern}|{TAG_RE.pattern}|<!--.*?-->", s, re.I):
        chunk = html.unescape(s[pos : m.start()])
        out.append(chunk)
        length += len(chunk)
        if m.group("nums"):
            marks.extend((length, n) for n in _expand_numbers(m.group("nums")))
        pos = m.end()
    out.append(html.unescape(s[pos:]))
    return "".join(out), marks


def _expand_numbers(nums: str) -> list[int]:
    """ "5" -> [5]; "5, 6" -> [5, 6]; "5-7" -> [5, 6, 7] (ranges capped at 50)."""
    out: list[int] = []
    for part in re.split(r"\s*[,，、]\s*", nums.strip()):
        bounds = [int(x) for x in re.split(r"\s*[-–]\s*", part)]
        lo, hi = bounds[0], bounds[-1]
        out.extend(range(lo, hi + 1) if 0 <= hi - lo <= 50 else bounds)
    return out


def block_raw(block: Block) -> str:
    """The block's lines as written (markup kept)."""
    return " ".join(ln.text for ln in block.lines)


def block_text(block: Block) -> str:
    """The block's plain text, lines joined."""
    return join_pieces([inline(ln.text)[0] for ln in block.lines])


def paragraph_text(lines: list[Line]) -> tuple[str, list[tuple[int, int, int]]]:
    """Join a paragraph's lines into plain text; markers as (offset, number, line)."""
    text = ""
    marks: list[tuple[int, int, int]] = []
    for line in lines:
        piece, pmarks = inline(line.text)
        lead = len(piece) - len(piece.lstrip())
        stripped = piece.strip()
        sep = joiner(text, stripped) if text and stripped else ""
        base = len(text) + len(sep)
        text += sep + stripped
        for off, n in pmarks:
            marks.append((base + min(max(off - lead, 0), len(stripped)), n, line.lineno))
    return text, marks


def logical_paragraphs(blocks: list[Block]) -> list[tuple[str, list[Line]]]:
    """(kind, lines) of each logical paragraph: a paragraph without sentence-final
    punctuation absorbs the next plain paragraph (a sentence cut by a page break)."""
    out: list[tuple[str, list[Line]]] = []
    open_para = False
    for b in blocks:
        if b.kind == "para" and open_para:
            out[-1][1].extend(b.lines)
        elif b.kind in ("para", "item", "heading"):
            out.append((b.kind, list(b.lines)))
        open_para = b.kind == "para" and not ends_sentence(paragraph_text(out[-1][1])[0])
    return out
