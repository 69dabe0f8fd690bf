"""The index: ``archive/citearchive.db``, the SQLite database beside the WARC files.

:mod:`.store` opens it (named, ordered migrations; one writer at a time), :mod:`.views`
keeps its SQL views, :mod:`.search` its full-text query and :mod:`.searchindex` the index
it reads (and the read-only connection); :mod:`.sqlitedb` is sqlite-utils, imported
without numpy, for every module here. Each capture row names the WARC file, offset
and length of its record, like a CDX line.

May import: ``warc`` (the run's WARC file is opened with the archive), ``sources``,
``config``, ``errors``.
"""
