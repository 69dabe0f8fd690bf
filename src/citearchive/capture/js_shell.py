"""Does an HTML page need JavaScript to show its text? (Then it is captured in a browser too.)

A *JavaScript shell* is a page whose HTML carries scripts but not the article: an app root
left empty for a script to fill (``<div id="root"></div>``, ``<app-root>``), a "please enable
JavaScript" notice (English, Russian, Japanese), or almost no text beside its scripts.
:func:`js_shell_reason` says which, in words, or None. It reads untrusted bytes: it never
raises and looks at the first ``SCAN_BYTES`` only.
"""

from __future__ import annotations

import re

from .suspect import weighted_length

SCAN_BYTES = 2_000_000
MIN_TEXT = 200  # characters of extracted text below which a page with scripts is a shell
ENOUGH_TEXT = 5 * MIN_TEXT  # a page with this much text is not a shell, whatever it says
_SCRIPT = re.compile(rb"<script\b", re.IGNORECASE)
_EMPTY_ROOT = re.compile(
    rb"<(div|main|section|body)\b[^>]*\bid\s*=\s*[\"']?(root|app|__next|__nuxt|svelte|main-app)"
    rb"[\"']?[^>]*>\s*</\1>|<(app-root|ng-app|my-app)\b[^>]*>\s*</\3>",
    re.IGNORECASE,
)
_NOTICES = (
    "enable javascript",
    "javascript is disabled",
    "javascript is required",
    "requires javascript",
    "need to enable javascript",
    "turn on javascript",
    "javascript must be enabled",
    "browser does not support javascript",
    "включите javascript",
    "javascript отключен",
    "javascript выключен",
    "требуется javascript",
    "необходимо включить javascript",
    "javascriptを有効",
    "javascript を有効",
    "javascriptが無効",
    "javascript が無効",
    "javascriptをオンに",
    "javascript をオンに",
)
_TAGS = re.compile(r"<[^>]*>")
_NOSCRIPT = re.compile(rb"<noscript\b[^>]*>(.*?)</noscript>", re.IGNORECASE | re.DOTALL)


def js_shell_reason(html: bytes, text: str | None) -> str | None:
    """Why ``html`` (with ``text`` extracted from it) looks like a JavaScript shell, or None."""
    # CJK characters count twice (suspect.weighted_length): 700 characters of Japanese are a
    # short article, not a page waiting for its script
    stripped = (text or "").strip()
    words = weighted_length(stripped, ENOUGH_TEXT)
    if words >= ENOUGH_TEXT:  # no rule below fires: skip scanning the markup (most pages)
        return None
    head = html[:SCAN_BYTES]
    scripts = len(_SCRIPT.findall(head))
    if not scripts:
        return None
    if _EMPTY_ROOT.search(head):
        return "an empty app root for a script to fill"
    notice = _notice(head, text)
    if notice is not None:
        return f"a notice asking for JavaScript ({notice!r})"
    if words < MIN_TEXT:
        return f"almost no text ({len(stripped)} characters) beside {scripts} script(s)"
    return None


def _notice(head: bytes, text: str | None) -> str | None:
    """A "please enable JavaScript" phrase in a <noscript> block or in the text."""
    places = [m.group(1).decode("utf-8", "replace") for m in _NOSCRIPT.finditer(head)]
    places.append(text or "")
    for place in places:
        folded = " ".join(_TAGS.sub(" ", place).lower().split())
        for phrase in _NOTICES:
            if phrase in folded or phrase.replace(" ", "") in folded.replace(" ", ""):
                return phrase
    return None
