"""Which domains a publisher publishes on, and how titles are compared.

A small built-in table covers the publishers commentaries on Russia and Ukraine cite
most; ``[[publisher]]`` tables in sources.toml extend it (and win), and a source's own
``domain`` overrides both. Names are compared after :func:`fold`.
"""

from __future__ import annotations

import re
import unicodedata

from ..sources.manifest import Manifest, Source

# name (folded) -> domains; aliases in English, Russian and Japanese share an entry
BUILTIN_PUBLISHERS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("president of russia", "kremlin", "президент россии", "kremlin.ru"): (
        "kremlin.ru", "en.kremlin.ru",
    ),
    ("rossiiskaia gazeta", "rossiyskaya gazeta", "российская газета", "rg"): ("rg.ru",),
    ("kommersant", "коммерсантъ", "коммерсант"): ("kommersant.ru",),
    ("interfax", "интерфакс"): ("interfax.ru",),
    ("tass", "тасс"): ("tass.ru", "tass.com"),
    ("ria novosti", "риа новости"): ("ria.ru",),
    ("bbc", "bbc news", "би-би-си"): ("bbc.com", "bbc.co.uk"),
    ("cnn",): ("cnn.com",),
    ("institute for the study of war", "isw"): ("understandingwar.org",),
    ("current time", "настоящее время"): ("currenttime.tv",),
    ("nids", "防衛研究所", "national institute for defense studies"): ("nids.mod.go.jp",),
    ("reuters",): ("reuters.com",),
    ("the white house", "white house"): ("whitehouse.gov",),
    ("ministry of foreign affairs of russia", "мид россии"): ("mid.ru",),
}  # fmt: skip

_QUOTES = str.maketrans({c: "" for c in "«»“”„‟\"'‘’‚‛「」『』〈〉《》"})
_DASHES = re.compile(r"[‐‑‒–—―−-]+")


def fold(text: str | None) -> str:
    """NFKC, lower case, ё→е, quotes dropped, dashes and spacing made one."""
    t = unicodedata.normalize("NFKC", text or "").casefold().replace("ё", "е")
    t = t.translate(_QUOTES)
    t = _DASHES.sub("-", t)
    t = re.sub(r"[\s.,:;!?。、・]+", " ", t)
    return t.strip()


def domains_for(source: Source, manifest: Manifest) -> tuple[str, ...]:
    """The domains to search for ``source``: its ``domain``, else its publisher's."""
    if source.domain:
        return (source.domain,)
    name = fold(source.publisher)
    if not name:
        return ()
    for publisher in manifest.publishers:
        if fold(publisher.name) == name:
            return publisher.domains
    for names, domains in BUILTIN_PUBLISHERS.items():
        if name in names:
            return domains
    return ()
