"""js_shell: which HTTP captures look like a page that needs JavaScript; never raises."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citearchive.capture.js_shell import js_shell_reason

ARTICLE = "The delegations agreed to set up a joint commission. " * 20


@pytest.mark.parametrize(
    ("html", "text", "why"),
    [
        (b'<div id="root"></div><script src="/app.js"></script>', "", "empty app root"),
        (b"<app-root></app-root><script src=main.js></script>", "", "empty app root"),
        (b"<noscript>Please enable JavaScript.</noscript><script></script><p>x</p>", "x",
         "enable javascript"),
        ("<noscript>Включите JavaScript в браузере</noscript><script></script>".encode(), "",
         "включите javascript"),
        ("<noscript>JavaScriptを有効にしてください</noscript><script></script>".encode(), "",
         "javascriptを有効"),
        (b"<script>load()</script><p>Loading</p>", "Loading", "almost no text"),
    ],
)  # fmt: skip
def test_shells_are_recognised(html: bytes, text: str, why: str) -> None:
    reason = js_shell_reason(html, text)
    assert reason is not None and why in reason


@pytest.mark.parametrize(
    ("html", "text"),
    [
        (b"<p>Loading</p>", "Loading"),  # no script at all: nothing a browser would add
        (f"<script>ga()</script><article>{ARTICLE}</article>".encode(), ARTICLE),
        (b'<div id="root"><article>' + ARTICLE.encode() + b"</article></div><script></script>",
         ARTICLE),
    ],
)  # fmt: skip
def test_pages_with_their_text_are_not_shells(html: bytes, text: str) -> None:
    assert js_shell_reason(html, text) is None


@given(st.binary(max_size=4000), st.one_of(st.none(), st.text(max_size=400)))
def test_any_input_gives_a_reason_or_none(html: bytes, text: str | None) -> None:
    reason = js_shell_reason(html, text)
    assert reason is None or isinstance(reason, str)


def test_cjk_text_counts_twice_against_a_site_wide_notice() -> None:
    # A short Japanese article under a site-wide "JavaScript is off" banner (as on a corpus
    # news page) is not a shell; the same banner over as many Latin letters, a short page,
    # is still asked for in the browser.
    notice = "<noscript>現在JavaScriptが無効になっています。</noscript><script>ga()</script>"
    japanese = "停戦協議は三日目も非公開で行われ、捕虜交換が来週実施される。" * 20  # 620 chars
    latin = "x" * len(japanese)
    assert js_shell_reason((notice + japanese).encode(), japanese) is None
    latin_reason = js_shell_reason((notice + latin).encode(), latin)
    assert latin_reason is not None and "javascriptが無効" in latin_reason
    short = japanese[:90]  # 90 characters count as 180: almost no text
    reason = js_shell_reason(b"<script>app()</script>", short)
    assert reason == "almost no text (90 characters) beside 1 script(s)"
