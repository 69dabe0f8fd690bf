"""The one error tree of citearchive.

Every error a user can cause (bad input, a locked archive, a missing file) is a
``CitearchiveError``. The CLI catches it at one boundary, prints its one-line
message and exits with code 2. Anything else is a bug and keeps its traceback.

A source that fails to fetch is *not* an exception: it is recorded as a failed
capture row and the batch goes on.

    CitearchiveError
     ├── ManifestError        sources.toml is malformed, unknown field, wrong type, ...
     ├── CommentaryError      a commentary file cannot be read or parsed
     ├── WarcImportError      a file given to import-warc is not a readable WARC or WACZ
     ├── ArchiveError         the archive directory is unusable
     │    └── ArchiveLockedError   another citearchive process holds the archive
     ├── UsageError           the command line asks for something impossible
     └── ModelMissingError    suggest's sentence model is not installed (the extra "suggest")
"""

from __future__ import annotations

from pathlib import Path


class CitearchiveError(Exception):
    """Root of every error citearchive reports to a user (exit code 2)."""

    exit_code = 2


class ManifestError(CitearchiveError):
    """sources.toml is malformed or inconsistent; names file, line and field."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.message = message
        where = self.path or "sources.toml"
        if line is not None:
            where = f"{where}:{line}"
        prefix = f"{where}: "
        if field:
            prefix += f"{field}: "
        super().__init__(prefix + message)


class CommentaryError(CitearchiveError):
    """A commentary file cannot be read or parsed."""


class WarcImportError(CitearchiveError):
    """A file given to import-warc is not a readable WARC or WACZ (names the file)."""


class ArchiveError(CitearchiveError):
    """The archive directory or its database is unusable."""


class ArchiveLockedError(ArchiveError):
    """Another citearchive process is writing to the same archive."""


class UsageError(CitearchiveError):
    """The command line asks for something that cannot be done."""


class ModelMissingError(CitearchiveError):
    """The sentence model ``suggest`` needs is not installed (``citearchive[suggest]``)."""
