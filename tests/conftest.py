"""Shared fixtures: the local HTTP server (tests/localserver.py) for every test module, and a
switch between the two inflate libraries."""

import zlib

import pytest

from citearchive.warc import httpmeta
from localserver import local_ca, local_server, tls_server  # noqa: F401


@pytest.fixture(params=["isal", "zlib"])
def inflater(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with ISA-L (when installed) and with plain zlib."""
    if request.param == "zlib":
        monkeypatch.setattr(httpmeta, "_inflate_lib", zlib)
    elif httpmeta._inflate_lib is zlib:
        pytest.skip("isal is not installed")
    return str(request.param)
