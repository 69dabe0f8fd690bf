"""Records: the WARC files, the archive's single store of raw bytes.

:mod:`.writer` appends records to a run's ``.warc.gz`` (one gzip member each, never
rewritten), :mod:`.reader` reads and checks other tools' WARC/WACZ files, :mod:`.record`
reads one record back at a known offset, :mod:`.httpmeta` parses the HTTP headers they
carry.

May import: ``config``, ``errors``. It knows nothing of sources, captures or the database.
"""
