"""Export: the archive in other people's formats.

:mod:`.wacz` packages the WARC files and an index as WACZ (ReplayWeb.page, pywb);
:mod:`.robustlinks` writes Robust Links (URL + archived copy + date) for the commentary.

Reads ``archive/`` and ``sources.toml``, writes files the user names. May import:
``capture``, ``archive``, ``warc``, ``sources``, ``config``, ``errors``.
"""
