"""The README is tested: its offline walkthrough runs as written, its commands exist."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block_after(heading: str) -> list[str]:
    section = README.split(heading, 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, f"no sh block after {heading!r}"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def _python_after(heading: str) -> str:
    block = re.search(r"```python\n(.*?)```", README.split(heading, 1)[1], re.S)
    assert block, f"no python block after {heading!r}"
    return block.group(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ci_commands_are_in_the_readme() -> None:
    for marker in ("<!-- ci:setup -->", "<!-- ci:test -->", "<!-- ci:lint -->"):
        assert marker in README
    assert "pip install -e '.[test,suggest]'" in README and "python -m pytest" in README


def test_offline_walkthrough_runs_as_written(tmp_path: Path) -> None:
    """Every line of "Try it offline" runs, on a free port instead of 8000."""
    if not Path("/usr/bin/chromium").exists() and not os.environ.get("CI"):
        pytest.skip("the walkthrough's JavaScript page needs Chromium (apt-get install chromium)")
    lines = _block_after("## Try it offline")
    server_line, *commands = lines
    assert server_line.startswith("python -m http.server 8000")
    work = tmp_path / "repo"
    shutil.copytree(ROOT / "examples", work / "examples")
    port = _free_port()
    sources = work / "examples" / "sources.toml"
    sources.write_text(
        sources.read_text(encoding="utf-8").replace("127.0.0.1:8000", f"127.0.0.1:{port}"),
        encoding="utf-8",
    )
    server_argv = shlex.split(server_line.rstrip("&").strip().replace("8000", str(port)))
    server = subprocess.Popen([sys.executable, *server_argv[1:]], cwd=work,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_for(f"http://127.0.0.1:{port}/en-analysis.html")
        outputs = {}
        for line in commands:
            argv = shlex.split(line)
            assert argv[0] == "citearchive"
            if argv[1] == "serve":
                outputs["serve"] = _serve_briefly(argv, work)
                continue
            done = subprocess.run([sys.executable, "-m", "citearchive", *argv[1:]], cwd=work,
                                  capture_output=True, text=True, timeout=180)  # fmt: skip
            assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
            outputs[argv[1]] = done.stdout
        api = _python_after("## Architecture")
        done = subprocess.run([sys.executable, "-c", api], cwd=work, capture_output=True,
                              text=True, timeout=180)  # fmt: skip
        assert done.returncode == 0, done.stderr
        outputs["api"] = done.stdout
    finally:
        server.terminate()
        server.wait()
    assert "5 captured" in outputs["fetch"]  # fn5, rendered by JavaScript, in the browser
    assert "all checks held" in outputs["verify"]
    assert "quote: 5 found" in outputs["verify"]
    assert outputs["status"].count("captured") == 5
    assert "fn1" in outputs["search"] and "fn4" in outputs["search"]  # HTML and the PDF
    assert "停戦" in outputs["serve"]
    assert "all checks held" in outputs["api"] and "fn1" in outputs["api"]


def _wait_for(url: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # 127.0.0.1 only
                return response.read().decode("utf-8", errors="replace")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _serve_briefly(argv: list[str], cwd: Path) -> str:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "citearchive", *argv[1:], "--port", str(port)],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return _wait_for(f"http://127.0.0.1:{port}/-/citearchive/capture/1")
    finally:
        proc.terminate()
        proc.wait()
