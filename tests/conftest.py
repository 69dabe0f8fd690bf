"""Shared fixtures: the local HTTP server (tests/localserver.py) for every test module."""

from localserver import local_ca, local_server, tls_server  # noqa: F401
