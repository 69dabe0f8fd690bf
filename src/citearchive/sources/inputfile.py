"""Read an input file the user named (sources.toml, a commentary) safely and bounded.

An input must be a regular file: ``/dev/zero`` would be read until memory runs out, and a
FIFO would block forever. It is opened without blocking (``O_NONBLOCK``: opening a FIFO
with no writer returns at once), checked with ``fstat`` on the open descriptor (no race
between the check and the read), and at most ``limit`` bytes are read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class InputFileError(Exception):
    """Why an input file cannot be read (a short phrase; the caller names the file)."""


def read_input(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``; InputFileError when it is not one, or too big.

    FileNotFoundError, IsADirectoryError and other OSErrors of opening are passed on.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        if not stat.S_ISREG(info.st_mode):
            raise InputFileError(f"not a regular file ({_kind(info.st_mode)})")
        if info.st_size > limit:
            raise InputFileError(f"too large ({info.st_size:,} bytes; the limit is {limit:,})")
        os.set_blocking(fd, True)
        parts, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            parts.append(chunk)
            left -= len(chunk)
        if left <= 0:  # it grew while being read
            raise InputFileError(f"too large (over {limit:,} bytes)")
        return b"".join(parts)
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"
