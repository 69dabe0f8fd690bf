"""Browse: the archive in Datasette.

:mod:`.serve` starts Datasette read-only on the archive with :mod:`.metadata` (titles,
descriptions, canned queries); :mod:`.plugin` is the Datasette plugin (search functions,
the capture page), :mod:`.archived_view` serves an archived page from its WARC record, and
:mod:`.document_page` shows a document's evidence dossier.

Reads ``archive/``, writes nothing. May import every stage below it (``verify``,
``export``, ``capture``), ``archive``, ``warc``, ``sources``, ``config``, ``errors``.
"""
