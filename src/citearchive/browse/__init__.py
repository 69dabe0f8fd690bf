"""Browse: the archive in Datasette.

:mod:`.serve` starts Datasette read-only on the archive with :mod:`.metadata` (titles,
descriptions, canned queries); :mod:`.plugin` is the Datasette plugin (search functions,
the capture page), and :mod:`.archived_view` serves an archived page from its WARC record.

Reads ``archive/``, writes nothing. May import every stage below it (``verify``,
``export``, ``capture``), ``archive``, ``warc``, ``sources``, ``config``, ``errors``.
"""
