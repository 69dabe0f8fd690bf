"""Capture: one URL becomes WARC records and a ``captures`` row.

:mod:`.pipeline` runs a fetch over every source: :mod:`.fetch` makes the HTTP exchange
(httpx, with caps on size and time), :mod:`.politeness` spaces requests per host,
:mod:`.adapters` knows sites (Telegram's embed view), :mod:`.fallback` and :mod:`.memento`
find a web archive's copy when the live page fails, :mod:`.exchange_records` turns an
exchange into WARC records, and :mod:`.workers` runs extraction (:mod:`.extract`,
:mod:`.charset`, :mod:`.pdftext`, :mod:`.suspect`) in a process pool.
:mod:`.import_warc` captures from another tool's WARC/WACZ files.

Reads ``sources.toml`` and the network; writes ``archive/``. May import: ``archive``,
``warc``, ``sources``, ``config``, ``errors``.
"""
