"""browser_recorder's address policy: which address class a request would reach."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citearchive.capture.browser_recorder import address_class, host_classes


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "loopback"), ("::1", "loopback"), ("[::1]", "loopback"),
        ("10.255.255.1", "private"), ("172.16.0.5", "private"), ("192.168.1.1", "private"),
        ("100.64.0.1", "private"), ("fd00::1", "private"),
        ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
        ("::ffff:10.0.0.1", "private"), ("0.0.0.0", "reserved"), ("224.0.0.1", "reserved"),
        ("93.184.216.34", "public"), ("2606:2800:220:1::1", "public"),
    ],
)  # fmt: skip
def test_address_classes(host: str, kind: str) -> None:
    assert address_class(host) == kind


def test_names_are_classed_by_their_addresses() -> None:
    assert asyncio.run(host_classes("localhost")) <= {"loopback"}
    assert asyncio.run(host_classes("10.0.0.1")) == {"private"}


@given(st.text(max_size=60))
def test_any_host_text_has_a_class(host: str) -> None:
    assert address_class(host) in {"public", "loopback", "private", "link-local", "reserved"}
