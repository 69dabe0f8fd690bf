"""Input: what the commentary says and what its footnotes cite.

Reads ``sources.toml`` (:mod:`.manifest`) and commentaries in Markdown, HTML or text
(:mod:`.commentary`, :mod:`.citation_parse`, :mod:`.sentences`, :mod:`.languages`), and
merges an imported commentary into ``sources.toml`` without dropping what a person wrote
(:mod:`.importer`, :mod:`.merge`). Reads files, writes only ``sources.toml``.

May import: ``config``, ``errors``. Nothing here touches the network or the archive.
"""
