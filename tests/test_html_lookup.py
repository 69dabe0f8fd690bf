"""The C-level element class lookup (capture/html_lookup.py) gives every node the class
lxml.html's Python lookup gives it (TextElement, a subclass, for a plain element), and
TextElement's text_content is XPath string(), so extraction's trees and texts do not
change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import lxml.etree
import lxml.html
import pytest
import trafilatura
import trafilatura.utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citearchive.capture.charset import decode_html
from citearchive.capture.html_lookup import TextElement, c_lookup, install

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "pages"

HANDWRITTEN = """<!DOCTYPE html><html><head><title>Тест</title>
<?php echo 1 ?><!-- a comment --></head><body>
<FORM action="/q"><LABEL for=a>Имя</LABEL><input id=a name=q><select name=s>
<option>一</option></select><textarea>текст &amp; &nbsp; &#x41;</textarea></form>
<svg:rect xmlns:svg="http://www.w3.org/2000/svg"/><p>停戦 <b>協議</b><br>ceasefire</p>
<table><tr><td>1<td>2</table><noscript>js</noscript></body></html>"""


def _parser(lookup: lxml.etree.ElementClassLookup, **options: bool) -> lxml.html.HTMLParser:
    parser = lxml.html.HTMLParser(**options)
    parser.set_element_class_lookup(lookup)
    return parser


def _classes(html: str, lookup: lxml.etree.ElementClassLookup) -> Iterator[tuple[str, type]]:
    tree = lxml.html.document_fromstring(html, parser=_parser(lookup))
    for node in tree.iter():
        yield str(node.tag), type(node)


def _both(html: str) -> tuple[list[tuple[str, type]], list[tuple[str, type]]]:
    """(tag, class) of every node from both lookups, TextElement read as HtmlElement."""
    python = list(_classes(html, lxml.html.HtmlElementClassLookup()))
    c = [(tag, lxml.html.HtmlElement if cls is TextElement else cls) for tag, cls in
         _classes(html, c_lookup())]  # fmt: skip
    return python, c


STRING = lxml.etree.XPath("string()", smart_strings=False)  # lxml.html's text_content


def _texts_agree(html: str) -> int:
    """How many elements were compared; fails on the first whose texts differ."""
    tree = lxml.html.document_fromstring(html, parser=_parser(c_lookup()))
    compared = 0
    for node in tree.iter():
        if isinstance(node, TextElement):
            assert node.text_content() == STRING(node), lxml.etree.tostring(node)
            compared += 1
    return compared


def test_every_node_gets_the_class_the_python_lookup_gives() -> None:
    python, c = _both(HANDWRITTEN)
    assert python == c
    kinds = {cls for _, cls in c}
    # the special classes are all there: the comparison covered them
    assert {lxml.html.FormElement, lxml.html.InputElement, lxml.html.SelectElement} <= kinds
    assert {lxml.html.TextareaElement, lxml.html.LabelElement, lxml.html.HtmlComment} <= kinds
    assert lxml.html.HtmlElement in kinds
    # plain elements are TextElements, whose text is lxml.html's (comments and PIs left out)
    assert _texts_agree(HANDWRITTEN) > 10
    body = lxml.html.document_fromstring(HANDWRITTEN, parser=_parser(c_lookup())).body
    assert isinstance(body, TextElement) and "停戦 協議" in body.text_content()
    assert "a comment" not in body.text_content()


def test_lookup_leaves_lxmls_global_namespace_registry_alone() -> None:
    install()
    c_lookup()
    plain = lxml.etree.fromstring("<form><input/></form>")
    assert type(plain) is lxml.etree._Element
    assert type(plain[0]) is lxml.etree._Element


TAGS = ["p", "div", "form", "input", "label", "select", "textarea", "a", "b", "span", "table"]
_piece = st.one_of(
    st.text(alphabet="abc停戦мир &<>;#x", max_size=8),
    st.sampled_from(TAGS).map(lambda t: f"<{t}>"),
    st.sampled_from(TAGS).map(lambda t: f"</{t}>"),
    st.sampled_from(["<!-- c -->", "<?pi x?>", "&amp;", "&nbsp;", "&bogus;", "&#x1F600;"]),
    st.sampled_from(["<br>", "<FORM>", "<Input>", "<script>a<b</script>", "<![CDATA[x]]>"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_piece, max_size=40).map("".join))
def test_tag_soup_gets_the_same_classes_and_texts(soup: str) -> None:
    html = f"<html><body>{soup}</body></html>"
    python, c = _both(html)
    assert python == c
    assert _texts_agree(html) >= 2  # html and body at least


def test_installed_parsers_never_call_the_python_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = lxml.html.HtmlElementClassLookup.lookup

    def counting(self: lxml.html.HtmlElementClassLookup, *args: object) -> object:
        calls.append(args)
        return original(self, *args)

    monkeypatch.setattr(lxml.html.HtmlElementClassLookup, "lookup", counting)
    page = "<html><body><article><h1>Заголовок</h1><p>" + "停戦協議が始まった。" * 40
    page += "</p><form><input></form></article></body></html>"
    lxml.html.document_fromstring(page, parser=lxml.html.HTMLParser())
    assert calls  # the counter sees the Python lookup when a parser uses it
    calls.clear()
    install()
    assert trafilatura.extract(page)
    assert calls == []


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not next to the repository")
def test_trafilatura_gives_the_same_text_with_either_lookup() -> None:
    pages = sorted(CORPUS.iterdir())[::20]
    parsers = [lxml.html.html_parser, trafilatura.utils.HTML_PARSER]
    texts = {}
    try:
        for name, lookup in (("python", lxml.html.HtmlElementClassLookup()), ("c", c_lookup())):
            for parser in parsers:
                parser.set_element_class_lookup(lookup)
            texts[name] = [
                trafilatura.extract(decode_html((d / "source.html").read_bytes(), None)[0])
                for d in pages
            ]
    finally:
        for parser in parsers:
            parser.set_element_class_lookup(c_lookup())
    assert len(pages) >= 15 and sum(bool(t) for t in texts["c"]) >= 15
    assert texts["python"] == texts["c"]
