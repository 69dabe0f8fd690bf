"""Capture: one URL becomes WARC records and a ``captures`` row.

:mod:`.pipeline` runs a fetch over every source (:mod:`.rows` builds and commits the
``captures`` rows, :mod:`.report` sums up the run): :mod:`.fetch` follows one URL's
redirects and retries over httpx (a pool per site on asyncio's streams, :mod:`.transport`),
:mod:`.body` reads each response under the caps into an
:mod:`.exchange`, :mod:`.politeness` spaces requests per host and decides retries,
:mod:`.adapters` knows sites (Telegram's embed view), :mod:`.fallback` and :mod:`.memento`
find a web archive's copy when the live page fails, :mod:`.exchange_records` turns an
exchange into WARC records, and :mod:`.workers` runs extraction (:mod:`.extract`,
:mod:`.charset`, :mod:`.pdftext`, :mod:`.suspect`; :mod:`.html_lookup` gives lxml's HTML
parsers their element classes from C) in a process pool.
:mod:`.import_warc` captures from another tool's WARC/WACZ files.

Reads ``sources.toml`` and the network; writes ``archive/``. May import: ``archive``,
``warc``, ``sources``, ``config``, ``errors``.
"""
