"""lxml.html's element classes, looked up in C: the same trees, ~8% less extraction CPU.

``lxml.html`` parsers pick the Python class of every element proxy they hand out
(``HtmlElement``, ``FormElement`` for ``<form>``, ``HtmlComment``...) through
``HtmlElementClassLookup.lookup``, a Python method. trafilatura creates millions of
proxies a thousand pages (every ``iter``, ``xpath`` result and ``getparent``), and that
method alone took ~8% of ``trafilatura.extract()`` on the corpus (issue 11).

:func:`c_lookup` gives exactly the same classes from lxml's C lookups: the
per-tag classes through an ``ElementNamespaceClassLookup`` of its own (its registry is
its own, not lxml's global one), every other node through an
``ElementDefaultClassLookup``. :func:`install` sets it on the parsers extraction goes
through: trafilatura's ``HTML_PARSER`` and ``lxml.html``'s default parser (readability's
fragments, ``lxml.html.fromstring``). Trees, texts and hashes do not change; the tests
compare both lookups node by node and trafilatura's output on corpus pages.
"""

from __future__ import annotations

from functools import cache

import lxml.etree
import lxml.html

__all__ = ["c_lookup", "install"]


def c_lookup() -> lxml.etree.ElementNamespaceClassLookup:
    """A C-level lookup giving every node the class ``HtmlElementClassLookup`` gives it."""
    fallback = lxml.etree.ElementDefaultClassLookup(
        element=lxml.html.HtmlElement,
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
    import trafilatura.utils

    lookup = c_lookup()
    for parser in (lxml.html.html_parser, getattr(trafilatura.utils, "HTML_PARSER", None)):
        if isinstance(parser, lxml.html.HTMLParser):
            parser.set_element_class_lookup(lookup)
