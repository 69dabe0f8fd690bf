"""Split a capture's text into passages: its sentences, with offsets into the text.

Sentences are found per paragraph (a line of ``captures.text``) by the importer's
splitter (:func:`~citearchive.sources.sentences.sentence_starts`: Japanese 。！？ need
no space, ``Mr.`` and ``U.S.`` end nothing, a 。 inside 「…」 ends nothing). A passage's
``text`` is ``capture_text[start:end]`` exactly, so a suggestion written as a quote is
anchored by ``verify`` as an exact match. Lines without letters (dates alone, "Share",
bullets) are not passages.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ..sources.sentences import sentence_starts, text_language

#: A passage needs at least this many letters to be a candidate.
MIN_LETTERS = 8


@dataclass(frozen=True)
class Passage:
    """``text[start:end]`` of one capture's text: one sentence."""

    start: int
    end: int
    text: str
    language: str | None


def split_passages(text: str, language: str | None = None) -> list[Passage]:
    """The sentences of ``text`` in order, each with its offsets and language.

    ``language`` is the capture's; a passage in another script gets its own.
    """
    out: list[Passage] = []
    offset = 0
    for line in text.split("\n"):
        starts = sentence_starts(line)
        for a, b in itertools.pairwise([*starts, len(line)]):
            piece = line[a:b]
            stripped = piece.strip()
            if sum(ch.isalpha() for ch in stripped) < MIN_LETTERS:
                continue
            start = offset + a + (len(piece) - len(piece.lstrip()))
            own = text_language(stripped)
            lang = language if own is None or own == language else own
            out.append(Passage(start, start + len(stripped), stripped, lang))
        offset += len(line) + 1
    return out
