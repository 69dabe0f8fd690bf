"""Export: the archive in other people's formats.

:mod:`.wacz` packages the WARC files and an index as WACZ (ReplayWeb.page, pywb);
:mod:`.robustlinks` writes Robust Links (URL + archived copy + date) for the commentary;
:mod:`.dossier` writes the evidence dossier (the commentary in order, the proof beside every
claim) from :mod:`.dossier_data` (also read by the Datasette page) and :mod:`.dossier_render`.

Reads ``archive/`` and ``sources.toml``, writes files the user names. May import:
``capture``, ``archive``, ``warc``, ``sources``, ``config``, ``errors``.
"""
