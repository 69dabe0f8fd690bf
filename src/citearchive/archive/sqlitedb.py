"""sqlite-utils, imported without numpy.

sqlite-utils imports numpy whenever it is installed (the ``suggest`` extra brings it), only
to map numpy scalar types to column types on insert. citearchive never inserts numpy values,
and numpy costs every command that opens an archive ~0.15 s of start-up and ~15 MB. So
sqlite-utils is imported here with numpy hidden; numpy itself stays importable afterwards
(``suggest`` imports it as usual). Every module of citearchive takes sqlite-utils from here.
"""

from __future__ import annotations

import sys

if "sqlite_utils" not in sys.modules and "numpy" not in sys.modules:
    sys.modules["numpy"] = None  # type: ignore[assignment]  # import numpy -> ImportError
    try:
        import sqlite_utils
    finally:
        del sys.modules["numpy"]

import sqlite_utils

__all__ = ["sqlite_utils"]
