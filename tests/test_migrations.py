"""The archive's schema migrations: atomic against a kill, safe for concurrent first opens
(issue 10, F7). Real SQLite files, real processes, a real SIGKILL."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from citearchive.archive import store
from citearchive.archive.store import DB_NAME, MIGRATIONS, Archive


def _names(root: Path) -> list[str]:
    arch = Archive.open(root, create=False)
    try:
        return [r[0] for r in arch.db.execute("SELECT name FROM _migrations ORDER BY name")]
    finally:
        arch.close()


@pytest.mark.parametrize("victim", ["001_core", "002_search", "006_folded_search_index"])
def test_a_kill_during_a_migration_leaves_an_archive_the_next_open_completes(
    tmp_path: Path, victim: str
) -> None:
    """The process is killed (SIGKILL) after the migration's DDL ran, before it committed."""
    root = tmp_path / "a"
    code = textwrap.dedent(f"""
        import os, signal
        from citearchive.archive import store
        steps = dict(store.MIGRATIONS)
        def killed(db, step=steps[{victim!r}]):
            step(db)
            os.kill(os.getpid(), signal.SIGKILL)
        store.MIGRATIONS[:] = [(n, killed if n == {victim!r} else s) for n, s in store.MIGRATIONS]
        store.Archive.open({str(root)!r})
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    assert (root / DB_NAME).exists()
    assert _names(root) == sorted(name for name, _ in MIGRATIONS)  # reopened and completed
    arch = Archive.open(root, create=False)
    try:
        assert "captures" in arch.db.table_names() and "claim_evidence" in arch.db.view_names()
    finally:
        arch.close()


def test_a_failing_migration_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "a"
    Archive.open(root).close()

    def half(db: object) -> None:
        store._t(db, "scratch").create({"id": int}, pk="id")  # type: ignore[arg-type]
        raise RuntimeError("boom")

    monkeypatch.setattr(store, "MIGRATIONS", [*MIGRATIONS, ("099_issue10_test", half)])
    with pytest.raises(RuntimeError):
        Archive.open(root)
    monkeypatch.undo()
    arch = Archive.open(root, create=False)
    try:
        assert "scratch" not in arch.db.table_names()
        assert "099_issue10_test" not in _names(root)
    finally:
        arch.close()


def test_a_second_open_during_the_first_open_migration_waits_and_succeeds(
    tmp_path: Path,
) -> None:
    """Process A is in the middle of migration 001 (slowed down); B opens the same new
    archive meanwhile. B waits for A's transaction and finds the schema complete."""
    root = tmp_path / "a"
    code = textwrap.dedent(f"""
        import time
        from citearchive.archive import store
        steps = dict(store.MIGRATIONS)
        def slow(db, step=steps["001_core"]):
            step(db)
            time.sleep(1.5)
        store.MIGRATIONS[:] = [(n, slow if n == "001_core" else s) for n, s in store.MIGRATIONS]
        store.Archive.open({str(root)!r}).close()
        print("ok")
    """)
    first = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not (root / DB_NAME).exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.2)  # A is inside migration 001 now
    Archive.open(root).close()
    assert first.communicate(timeout=60)[0].strip() == b"ok"
    assert _names(root) == sorted(name for name, _ in MIGRATIONS)


def _open_at(root: str, start: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    while time.time() < start:
        time.sleep(0.0005)
    try:
        Archive.open(root).close()
        out.put("ok")
    except Exception as exc:
        out.put(f"{type(exc).__name__}: {exc}")


def test_concurrent_first_opens_all_succeed(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    root = tmp_path / "a"
    out = ctx.Queue()
    start = time.time() + 1.0
    procs = [ctx.Process(target=_open_at, args=(str(root), start, out)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results == ["ok"] * 3
    assert _names(root) == sorted(name for name, _ in MIGRATIONS)


def test_an_up_to_date_archive_is_not_written(tmp_path: Path) -> None:
    root = tmp_path / "a"
    Archive.open(root).close()
    before = os.stat(root / DB_NAME).st_mtime_ns
    time.sleep(0.01)
    assert store.migrate(Archive.open(root).db) == []
    assert os.stat(root / DB_NAME).st_mtime_ns == before
