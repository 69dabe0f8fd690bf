"""The ``citearchive`` command: typer commands over the library, nothing more.

:mod:`.app` holds the app and the loop's commands (import, check, fetch, verify, status,
serve, search), :mod:`.exchange` import-warc and export, :mod:`.reindex` reindex,
:mod:`.fast` the console entry point (a plain ``search`` without loading typer),
:mod:`.common` the shared options and the one error boundary (exit 2 for usage and
configuration errors).

May import anything; nothing imports it.
"""
