"""Shared fixtures: the local HTTP server (tests/localserver.py) for every test module, and a
switch between the two inflate libraries."""

import os
import zlib

import pytest

from citearchive.warc import httpmeta
from localserver import local_ca, local_server, tls_server  # noqa: F401

# No test may reach the public timestamp authorities (the default tsa_urls): runs are not
# timestamped unless a test's sources.toml names a TSA (tests/tsa.py runs a local one).
# Subprocesses inherit this too.
os.environ["CITEARCHIVE_TSA_URLS"] = ""


@pytest.fixture(params=["isal", "zlib"])
def inflater(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with ISA-L (when installed) and with plain zlib."""
    if request.param == "zlib":
        monkeypatch.setattr(httpmeta, "_inflate_lib", zlib)
    elif httpmeta._inflate_lib is zlib:
        pytest.skip("isal is not installed")
    return str(request.param)
