"""`citearchive fetch` as a user runs it: exit codes, --json, a second process, SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from citearchive.cli.app import app
from localserver import LocalServer, Request, respond

PAGE = (
    "<html><head><title>Page {i}</title></head><body><article><h1>Page {i}</h1>"
    "<p>The delegations met again on Monday to discuss the ceasefire and the guarantees "
    "that European governments have offered to Ukraine.</p><p>Officials said the talks were "
    "productive, although no date was set for a trilateral summit of the three presidents.</p>"
    "<p>Analysts in Washington and Kyiv cautioned that the territorial questions remain open "
    "and that the memorandum of June repeats the demands of the 2022 draft treaty.</p>"
    "</article></body></html>"
)
CLI = [sys.executable, "-m", "citearchive"]


def write_sources(tmp_path: Path, urls: dict[str, str], settings: str = "host_delay = 0") -> Path:
    parts = [f"[settings]\n{settings}\n", '[[document]]\nid = "d"\ntitle = "T"\n']
    for i, (sid, url) in enumerate(urls.items(), start=1):
        parts.append(f'[[source]]\nid = "{sid}"\nfootnotes = [{i}]\nurl = "{url}"\n')
    path = tmp_path / "sources.toml"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def test_fetch_json_and_exit_codes(tmp_path: Path, local_server: LocalServer) -> None:
    local_server.route("/a", respond(PAGE.format(i=1).encode()))
    local_server.route("/b", respond(b"no", status=404))
    sources = write_sources(tmp_path, {"a": local_server.url("/a")})
    archive = tmp_path / "archive"
    runner = CliRunner()
    result = runner.invoke(app, ["fetch", "-s", str(sources), "-a", str(archive), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["counts"]["captured"] == 1 and data["ok"] is True
    assert data["sources"][0]["payload_sha256"]

    sources = write_sources(tmp_path, {"a": local_server.url("/a"), "b": local_server.url("/b")})
    result = runner.invoke(app, ["fetch", "-s", str(sources), "-a", str(archive)])
    assert result.exit_code == 1
    assert "HTTP 404" in result.stdout and "skipped" in result.stdout

    result = runner.invoke(app, ["fetch", "bb", "-s", str(sources), "-a", str(archive)])
    assert result.exit_code == 2
    assert "no source with id 'bb'; did you mean 'b'?" in result.stderr


def test_bad_sources_file_is_exit_2_and_touches_nothing(tmp_path: Path) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text('[[source]]\nid = "x"\nfootnotes = [1]\nurl = "ftp://x"\n')
    result = CliRunner().invoke(app, ["fetch", "-s", str(sources), "-a", str(tmp_path / "a")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {sources}:4: ")
    assert not (tmp_path / "a").exists()


def _slow(delay: float):  # type: ignore[no-untyped-def]
    def handler(request: Request) -> None:
        request.sleep(delay)
        request.send(200, [("Content-Type", "text/html")], PAGE.format(i=request.path).encode())

    return handler


def _captured(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("select count(*) from captures").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_second_process_on_the_same_archive_exits_2(
    tmp_path: Path, local_server: LocalServer
) -> None:
    local_server.route("/slow", _slow(30))
    sources = write_sources(tmp_path, {"s": local_server.url("/slow")})
    archive = tmp_path / "archive"
    first = subprocess.Popen([*CLI, "fetch", "-s", str(sources), "-a", str(archive)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while local_server.hits("/slow") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        second = subprocess.run(
            [*CLI, "fetch", "-s", str(sources), "-a", str(archive)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert second.returncode == 2
        assert "another citearchive process" in second.stderr
        assert f"pid {first.pid}" in second.stderr
    finally:
        first.kill()
        first.wait()


def test_sigkill_then_rerun_completes_and_counts_each_source_once(
    tmp_path: Path, local_server: LocalServer
) -> None:
    n = 40  # at two at a time and 0.25 s each, the run takes 5 s: the kill lands mid-run
    for i in range(n):
        local_server.route(f"/p{i}", _slow(0.25))
    sources = write_sources(
        tmp_path, {f"p{i}": local_server.url(f"/p{i}") for i in range(n)},
        settings="host_delay = 0\nper_host = 2\nconcurrency = 2",
    )  # fmt: skip
    archive = tmp_path / "archive"
    db = archive / "citearchive.db"
    proc = subprocess.Popen([*CLI, "fetch", "-s", str(sources), "-a", str(archive)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while _captured(db) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = _captured(db)
    assert 4 <= partial < n, "the kill should land mid-run"
    assert list((archive / "warc").glob("*.open")), "the killed run leaves its WARC open"

    rerun = subprocess.run([*CLI, "fetch", "-s", str(sources), "-a", str(archive), "--json"],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    counts = json.loads(rerun.stdout)["counts"]
    assert counts["skipped"] == partial and counts["captured"] == n - partial

    with sqlite3.connect(db) as conn:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        per_source = dict(
            conn.execute(
                "select source_id, count(*) from captures where error is null group by source_id"
            ).fetchall()
        )
        located = conn.execute(
            "select warc_filename, warc_offset from captures order by id"
        ).fetchall()
    assert per_source == {f"p{i}": 1 for i in range(n)}
    assert not list((archive / "warc").glob("*.open"))
    offsets: dict[str, set[int]] = {}
    for warc in (archive / "warc").glob("*.warc.gz"):
        with open(warc, "rb") as fh:
            it = ArchiveIterator(fh)
            offsets[warc.name] = {it.get_record_offset() for _ in it}
    for name, offset in located:
        assert offset in offsets[name]


def test_archived_strings_cannot_drive_the_terminal(
    tmp_path: Path, local_server: LocalServer
) -> None:
    """A hostile <title> with escape sequences (clear screen, cursor home) and rich markup
    reaches the table as plain text; an error naming ":x:" does not become an emoji."""
    title = "\x1b[2J\x1b[1;1H[bold green]ALL CHECKS HELD[/] \u202enoitceted\u202c :x: Normal"
    page = PAGE.replace("<title>Page {i}</title>", f"<title>{title}</title>").format(i=1)
    local_server.route("/esc", respond(page.encode()))
    sources = write_sources(tmp_path, {"esc": local_server.url("/esc")})
    done = subprocess.run(
        [*CLI, "fetch", "-s", str(sources), "-a", str(tmp_path / "a"), "--no-progress"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Normal" in done.stdout
    assert "\x1b" not in done.stdout and "\u202e" not in done.stdout
    assert "[bold green]ALL CHECKS HELD[/]" in done.stdout  # shown as the text it is
    assert ":x:" in done.stdout and "❌" not in done.stdout

    bad = tmp_path / "bad.toml"
    bad.write_text('[[source]]\nid = ":x:\\u001b[2J"\nfootnotes = [1]\nurl = "ftp://x"\n')
    done = subprocess.run([*CLI, "check", "-s", str(bad)], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert "\x1b" not in done.stderr and "❌" not in done.stderr


def test_fetch_starts_without_what_only_some_pages_need() -> None:
    """Start-up is part of every run's wall clock: the modules a run needs only for some
    pages (bs4 for a site adapter, pdfminer for a PDF, rfc3161-client for a TSA) and
    numpy (sqlite-utils would import it for nothing) stay unloaded until used."""
    probe = (
        "import sys, citearchive.cli.app, citearchive.capture.pipeline\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'bs4', 'pdfminer', 'rfc3161_client', 'numpy', 'soupsieve'}))\n"
        "from citearchive.archive.sqlitedb import sqlite_utils\n"
        "import numpy\n"  # still importable by whoever needs it (`suggest`)
        "print(numpy.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["[]", "numpy"]
