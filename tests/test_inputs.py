"""Inputs a user names: one line and exit 2 for every bad one, never a traceback or a hang
(issue 10, F12), and ``import`` keeps the file's mode and symlinks (F23)."""

from __future__ import annotations

import errno
import os
import stat
import threading
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from citearchive.cli.app import app
from citearchive.cli.common import handles_errors
from citearchive.errors import CommentaryError, ManifestError
from citearchive.sources.commentary import read_commentary
from citearchive.sources.importer import import_commentary
from citearchive.sources.manifest import load_manifest

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
COMMENTARY = ROOT / "examples" / "commentary.md"


def one_line_exit_2(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_deeply_nested_toml_is_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "n.toml"
    deep.write_text("[settings]\nx = " + "[" * 1000 + "]" * 1000 + "\n")
    line = one_line_exit_2(["check", "-s", str(deep)])
    assert line == f"error: {deep}: malformed TOML: nested too deeply"


@pytest.mark.parametrize("args", [["check", "-s", "/dev/zero"],
                                  ["import", "/dev/zero", "-o", "{tmp}/s.toml"]])  # fmt: skip
def test_a_device_is_refused_at_once(args: list[str], tmp_path: Path) -> None:
    line = one_line_exit_2([a.replace("{tmp}", str(tmp_path)) for a in args])
    assert "/dev/zero" in line and "not a regular file (a device)" in line


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    done: list[BaseException] = []

    def read() -> None:
        for reader, error in ((load_manifest, ManifestError), (read_commentary, CommentaryError)):
            try:
                reader(fifo)
            except error as exc:
                done.append(exc)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(5)
    assert not t.is_alive(), "reading a FIFO blocked"
    assert [("not a regular file (a FIFO)" in str(e)) for e in done] == [True, True]


def test_a_too_large_input_names_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from citearchive.sources import manifest

    monkeypatch.setattr(manifest, "MAX_MANIFEST_BYTES", 100)
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * 200 + "\n")
    with pytest.raises(ManifestError, match=r"too large \(203 bytes; the limit is 100\)"):
        load_manifest(big)


def test_a_full_disk_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    for exc in (OSError(errno.ENOSPC, "No space left on device"),
                sqlite3.OperationalError("database or disk is full")):  # fmt: skip

        @handles_errors
        def command(exc: Exception = exc) -> None:
            raise exc

        with pytest.raises(typer.Exit) as stop:
            command()
        assert stop.value.exit_code == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: disk full")

    @handles_errors
    def other() -> None:
        raise OSError(errno.EACCES, "Permission denied")

    with pytest.raises(OSError):  # anything else is a bug and keeps its traceback
        other()


# --- F23: import writes through symlinks and keeps the mode --------------------------------


def test_import_keeps_the_mode_of_the_file(tmp_path: Path) -> None:
    out = tmp_path / "sources.toml"
    import_commentary(COMMENTARY, out)
    os.chmod(out, 0o640)
    import_commentary(COMMENTARY, out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_a_new_file_gets_the_umask_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        import_commentary(COMMENTARY, tmp_path / "new.toml")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.toml").stat().st_mode) == 0o644


def test_import_writes_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "shared" / "sources.toml"
    real.parent.mkdir()
    import_commentary(COMMENTARY, real)
    os.chmod(real, 0o664)
    link = tmp_path / "sources.toml"
    link.symlink_to(real)
    (tmp_path / "c.md").write_text(
        COMMENTARY.read_text(encoding="utf-8") + "\nOne more claim.<sup>99</sup>\n\n99. Extra.\n",
        encoding="utf-8",
    )
    import_commentary(tmp_path / "c.md", link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert "One more claim." in real.read_text(encoding="utf-8")
    assert stat.S_IMODE(real.stat().st_mode) == 0o664
    assert not [p for p in real.parent.iterdir() if p.name.endswith(".tmp")]
