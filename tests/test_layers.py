"""The folders import one way: import-linter's contract in pyproject.toml holds, and it
would catch a lower stage importing a higher one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(src: Path, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        cwd=config.parent, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_layers_hold() -> None:
    done = _lint(ROOT / "src", ROOT / "pyproject.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


def test_a_lower_stage_importing_a_higher_one_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "src", tmp_path / "src")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bad = tmp_path / "src" / "citearchive" / "sources" / "reaches_up.py"
    bad.write_text("from ..verify.run import verify_archive  # noqa: F401\n", encoding="utf-8")
    done = _lint(tmp_path / "src", tmp_path / "pyproject.toml")
    assert done.returncode == 1
    assert "BROKEN" in done.stdout
    assert "citearchive.sources.reaches_up -> citearchive.verify.run" in done.stdout
