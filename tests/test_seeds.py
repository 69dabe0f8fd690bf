"""export seeds: browsertrix-crawler's YAML crawl config (and a plain seed file) from the
sources' URLs, read back with a YAML parser, through the library and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from citearchive.cli.app import app
from citearchive.export.seeds import export_seeds
from citearchive.sources.manifest import Manifest, Source, parse_manifest

runner = CliRunner()
MANIFEST = """
[[document]]
id = "doc"
title = "Talks"

[[source]]
id = "a"
footnotes = [1]
url = "https://example.org/a?x=1&y=«да»"
alternates = ["https://mirror.example.org/a", "https://example.org/a?x=1&y=«да»"]

[[source]]
id = "b"
footnotes = [2]
url = "https://example.jp/記事/2"

[[source]]
id = "unresolved"
footnotes = [3]
"""


def test_browsertrix_config_has_one_page_scoped_seed_per_url() -> None:
    seeds = export_seeds(parse_manifest(MANIFEST), fmt="browsertrix", collection="talks")
    config = yaml.safe_load(seeds.text)
    assert config["collection"] == "talks" and config["generateWACZ"] is True
    assert config["scopeType"] == "page" and "fullPage" in config["screenshot"]
    assert config["seeds"] == [
        {"url": "https://example.org/a?x=1&y=«да»", "scopeType": "page"},
        {"url": "https://mirror.example.org/a", "scopeType": "page"},
        {"url": "https://example.jp/記事/2", "scopeType": "page"},
    ]
    assert seeds.unresolved == ["unresolved"]
    txt = export_seeds(parse_manifest(MANIFEST), fmt="txt")
    assert txt.text.splitlines() == [s["url"] for s in config["seeds"]]


@given(st.lists(st.text(min_size=1, max_size=40), min_size=0, max_size=5, unique=True))
def test_any_url_text_stays_one_yaml_string(paths: list[str]) -> None:
    urls = ["https://example.org/" + p for p in paths]
    sources = tuple(
        Source(id=f"s{i}", document="doc", footnotes=(i + 1,), url=u) for i, u in enumerate(urls)
    )
    manifest = Manifest(path=Path("odd\nname: [x].toml"), sources=sources)
    config = yaml.safe_load(export_seeds(manifest).text)
    assert [s["url"] for s in config["seeds"]] == urls
    assert set(config) == {"collection", "generateWACZ", "text", "screenshot", "workers",
                           "scopeType", "seeds"}  # fmt: skip


def test_cli_writes_the_config_and_names_unknown_formats(tmp_path: Path) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text(MANIFEST, encoding="utf-8")
    out = tmp_path / "crawl-config.yaml"
    done = runner.invoke(app, ["export", "seeds", "-s", str(sources), "-o", str(out), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["unresolved"] == ["unresolved"]
    assert len(yaml.safe_load(out.read_text(encoding="utf-8"))["seeds"]) == 3
    done = runner.invoke(app, ["export", "seeds", "-s", str(sources), "--format", "warc"])
    assert done.exit_code == 2 and "unknown seed format 'warc'" in done.output
