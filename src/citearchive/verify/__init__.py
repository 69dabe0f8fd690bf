"""Verify: does every claim still rest on an archived copy?

:mod:`.run` checks traceability (claim → footnote → source → good capture), :mod:`.fixity`
re-reads every WARC record and re-hashes it, :mod:`.quotes` anchors each quote in the
archived text, :mod:`.live` compares the live page with the capture (drift), and
:mod:`.status` summarises each source. Results are rows of the ``checks`` table.

May import: ``capture`` (live drift fetches and extracts as capture does), ``archive``,
``warc``, ``sources``, ``config``, ``errors``.
"""
