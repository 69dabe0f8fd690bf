"""lxml.html's element classes, looked up in C, and a faster ``text_content``: the same
trees and texts for ~9% less of trafilatura's time (issue 11; 8% and 4% measured apart).

``lxml.html`` parsers pick the Python class of every element proxy they hand out
(``HtmlElement``, ``FormElement`` for ``<form>``, ``HtmlComment``...) through
``HtmlElementClassLookup.lookup``, a Python method. trafilatura creates millions of
proxies a thousand pages (every ``iter``, ``xpath`` result and ``getparent``), and that
method alone took ~8% of ``trafilatura.extract()`` on the corpus. trafilatura also calls
``text_content()`` some 650 times a page, and lxml.html answers each call by evaluating
the XPath ``string()``: ~4% more.

:func:`c_lookup` gives the classes from lxml's C lookups: the per-tag classes through an
``ElementNamespaceClassLookup`` of its own (its registry is its own, not lxml's global
one), every other node through an ``ElementDefaultClassLookup``. The one change is that a
plain element is a :class:`TextElement`, lxml's own way to give elements methods (custom
element classes): an ``HtmlElement`` whose ``text_content()`` is libxml2's text
serialisation of the element without its tail, the same string as XPath ``string()``
(every text node below the element, in document order; no comments, no processing
instructions). :func:`install` sets the lookup on the parsers extraction goes through:
trafilatura's ``HTML_PARSER`` and ``lxml.html``'s default parser (readability's
fragments, ``lxml.html.fromstring``). ``tests/test_html_lookup.py`` compares both
lookups node by node, ``text_content`` with ``string()`` on random markup, and
trafilatura's output on corpus pages.
"""

from __future__ import annotations

from functools import cache

import lxml.etree
import lxml.html

__all__ = ["TextElement", "c_lookup", "install", "use_lookup"]


class TextElement(lxml.html.HtmlElement):
    """lxml.html's element, its text content serialised by libxml2 instead of evaluated
    as an XPath expression (the same string, about four times faster)."""

    def text_content(self) -> str:
        text: str = lxml.etree.tostring(self, method="text", encoding="unicode", with_tail=False)
        return text


@cache
def c_lookup() -> lxml.etree.ElementNamespaceClassLookup:
    """A C-level lookup giving every node of parsed HTML the class
    ``HtmlElementClassLookup`` gives it (:class:`TextElement` for a plain ``HtmlElement``).

    Parsed HTML has lower-case tag names and no namespaces. An element made by hand as
    ``FORM`` or ``{ns}input`` would be a FormElement or an InputElement under
    lxml.html's lookup, which lower-cases names and ignores namespaces, and a
    TextElement here; neither extraction nor trafilatura makes such elements. Built once
    per process: a lookup holds no state, so every parser can share it."""
    fallback = lxml.etree.ElementDefaultClassLookup(
        element=TextElement,
        comment=lxml.html.HtmlComment,
        pi=lxml.html.HtmlProcessingInstruction,
        entity=lxml.html.HtmlEntity,
    )
    lookup = lxml.etree.ElementNamespaceClassLookup(fallback)
    per_tag = lookup.get_namespace(None)
    # the classes HtmlElementClassLookup() maps tag names to (form, input, label, ...)
    for tag, cls in lxml.html.HtmlElementClassLookup._default_element_classes.items():
        per_tag[tag] = cls
    return lookup


@cache
def install() -> None:
    """Use :func:`c_lookup` in the HTML parsers extraction uses (once per process)."""
    use_lookup(c_lookup())


def use_lookup(lookup: lxml.etree.ElementClassLookup) -> None:
    """Set ``lookup`` on trafilatura's parser and lxml.html's default one (benchmarks give
    them back lxml.html's own, ``HtmlElementClassLookup()``, to time trafilatura as it
    comes)."""
    import trafilatura.utils

    for parser in (lxml.html.html_parser, getattr(trafilatura.utils, "HTML_PARSER", None)):
        if isinstance(parser, lxml.html.HTMLParser):
            parser.set_element_class_lookup(lookup)
