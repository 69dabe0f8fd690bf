"""Resolve: find URLs for unresolved sources in web-archive indexes.

For a source with no ``url``, the publisher gives the domains (:mod:`.publishers`), the
footnote's date a time window, and a web archive's CDX index (:mod:`.cdx`) the pages it
holds under those domains in that window; the titles of the likeliest ones, read from the
archived copies, are compared with the footnote's title (:mod:`.run`). ``--apply`` writes
the best match into sources.toml (:mod:`.apply`). Every candidate is a URL an archive
holds, never a guessed pattern.

Reads ``sources.toml`` and the network (one request at a time per archive); writes only
``sources.toml``, and only with ``--apply``. May import: ``sources``, ``config``, ``errors``.
"""
