"""Hostile servers against fetch (issue 10, findings F9, F12, F13, F15, F16): raw UTF-8
Location headers, redirects to ``javascript:`` and into private networks, cookies carried
from one capture to the next, settings and URLs that ``check`` must refuse."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from citearchive.capture.fetch import FetchResult, fetch, make_client
from citearchive.capture.network import address_refusal, scope
from citearchive.config import Settings
from citearchive.errors import ManifestError
from citearchive.sources.manifest import parse_manifest
from citearchive.sources.urls import url_problem
from localserver import LocalServer, Request, local_server, redirect, respond

__all__ = ["local_server"]

FAST = Settings(connect_timeout=2.0, read_timeout=5.0, deadline=10.0, host_delay=0)


def run_all(urls: list[str], client: httpx.AsyncClient | None = None) -> list[FetchResult]:
    """Capture ``urls`` one after another with one shared client, as a run does."""

    async def go() -> list[FetchResult]:
        async with client or make_client(FAST) as c:
            return [await fetch(c, url, FAST) for url in urls]

    return asyncio.run(go())


def raw_redirect(location: bytes) -> object:
    def handler(request: Request) -> None:
        request.write_raw(
            b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n"
        )

    return handler


def test_a_raw_utf8_location_is_followed_as_browsers_do(local_server: LocalServer) -> None:
    """F9: the bytes were read as latin-1 and percent-encoded again (/p/%C3%A5%C2%81…)."""
    local_server.route("/jump", raw_redirect("/p/停戦?q=МИД".encode()))
    local_server.route("/p/%E5%81%9C%E6%88%A6", respond("<p>停戦協議</p>".encode()))
    (result,) = run_all([local_server.url("/jump")])
    assert result.ok, result.error
    assert result.final_url == local_server.url("/p/%E5%81%9C%E6%88%A6?q=%D0%9C%D0%98%D0%94")
    assert result.redirects[0]["location"] == "/p/停戦?q=МИД"


def test_a_location_that_is_not_utf8_is_percent_encoded_byte_by_byte(
    local_server: LocalServer,
) -> None:
    local_server.route("/jump", raw_redirect(b"/p/caf\xe9"))
    local_server.route("/p/caf%E9", respond(b"<p>cafe</p>"))
    (result,) = run_all([local_server.url("/jump")])
    assert result.ok and result.final_url.endswith("/p/caf%E9")


def test_a_redirect_to_javascript_keeps_its_302_and_names_the_target(
    local_server: LocalServer,
) -> None:
    """F13: the 302 was lost and the error blamed the requested URL."""
    local_server.route("/js", redirect("javascript:alert(1)"))
    (result,) = run_all([local_server.url("/js")])
    assert result.status_code == 302 and len(result.exchanges) == 1
    assert result.error_kind == "invalid-url"
    assert "javascript:alert(1)" in str(result.error) and "/js" not in str(result.error)


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "http://10.255.255.1/admin", "http://[::ffff:169.254.169.254]/"],
)  # fmt: skip
def test_a_redirect_into_another_network_is_refused_before_any_request(
    local_server: LocalServer, target: str
) -> None:
    """F15: a source on 127.0.0.1 may reach its own loopback, never the metadata service
    or a private network; the refused redirect is recorded."""
    local_server.route("/meta", redirect(target))
    (result,) = run_all([local_server.url("/meta")])
    assert result.error_kind == "blocked", result.error
    assert "refused to connect" in str(result.error)
    assert [e.status_code for e in result.exchanges] == [302, None]  # nothing was sent there


def test_a_source_reaches_its_own_network(local_server: LocalServer) -> None:
    local_server.route("/a", redirect(f"http://localhost:{local_server.port}/b"))
    local_server.route("/b", respond(b"<p>same machine</p>"))
    (result,) = run_all([local_server.url("/a")])
    assert result.ok, result.error


@pytest.mark.parametrize(
    ("address", "allowed", "refused"),
    [
        ("93.184.216.34", "public", False),
        ("127.0.0.1", "public", True),
        ("10.1.2.3", "public", True),
        ("192.168.1.1", "public", True),
        ("169.254.169.254", "public", True),
        ("::1", "public", True),
        ("fe80::1%eth0", "public", True),
        ("::ffff:10.0.0.1", "public", True),
        ("0.0.0.0", "public", True),
        ("100.64.0.1", "public", True),
        ("127.0.0.2", "loopback", False),
        ("169.254.169.254", "loopback", True),
        ("10.0.0.7", "private", False),
    ],
)
def test_which_addresses_a_source_may_reach(address: str, allowed: str, refused: bool) -> None:
    """The rule behind F15, including what a public name's DNS answer may not be."""
    why = address_refusal(address, allowed, "http://example.org/")
    assert (why is not None) is refused, (address, scope(address), why)


def test_a_public_source_whose_connection_lands_on_a_private_address_is_refused(
    local_server: LocalServer,
) -> None:
    """F15, DNS answer: checked on the address actually connected to, nothing kept."""
    local_server.route("/page", respond(b"<p>internal secrets</p>"))

    async def go() -> FetchResult:
        async with make_client(FAST) as client:
            from citearchive.capture import fetch as fetch_module

            real = fetch_module._Capture._refusal

            async def public_first(self: object, url: str) -> str | None:
                self.scope = self.scope or "public"  # type: ignore[attr-defined]
                return None  # as if the name's DNS answer had been public

            fetch_module._Capture._refusal = public_first  # type: ignore[method-assign]
            try:
                return await fetch(client, local_server.url("/page"), FAST)
            finally:
                fetch_module._Capture._refusal = real  # type: ignore[method-assign]

    result = asyncio.run(go())
    assert result.error_kind == "blocked" and "loopback address" in str(result.error)
    assert result.body == b"" and result.exchanges[0].status_code is None


def test_each_capture_starts_with_no_cookies(local_server: LocalServer) -> None:
    """F16: a cookie set by one source's page was sent with the next source on that host."""
    local_server.route(
        "/set", respond(b"<p>set</p>", headers=[("Set-Cookie", "tracker=SECRET; Path=/")])
    )
    local_server.route("/echo", respond(b"<p>echo</p>"))
    hop = [("Set-Cookie", "hop=1; Path=/"), ("Location", "/echo")]
    local_server.route("/hop", respond(b"", 302, hop))
    run_all([local_server.url("/set"), local_server.url("/echo"), local_server.url("/hop")])
    echoes = [r for r in local_server.requests if r.path == "/echo"]
    assert echoes[0].header("cookie") is None  # the next capture: no cookie of the last
    assert echoes[1].header("cookie") == "hop=1"  # within one capture's redirects: kept


def test_cookies_stay_out_even_with_a_client_that_keeps_them(local_server: LocalServer) -> None:
    local_server.route(
        "/set", respond(b"<p>set</p>", headers=[("Set-Cookie", "tracker=SECRET; Path=/")])
    )
    local_server.route("/echo", respond(b"<p>echo</p>"))
    run_all([local_server.url("/set"), local_server.url("/echo")], httpx.AsyncClient())
    assert next(r for r in local_server.requests if r.path == "/echo").header("cookie") is None


# -- what check must refuse (F12) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("ブラウザ", "printable ASCII"),
        ("citearchive\r\nX-Evil: 1", "printable ASCII"),
        ("tab\there", "printable ASCII"),
        ("   ", "must not be empty"),
        ("x" * 1001, "at most 1000"),
    ],
)
def test_check_refuses_a_user_agent_fetch_cannot_send(value: str, needle: str) -> None:
    text = f'[settings]\nuser_agent = "{value.encode("unicode_escape").decode()}"\n'
    with pytest.raises(ManifestError, match=needle) as info:
        parse_manifest(text, "sources.toml")
    assert "user_agent" in str(info.value) and "\n" not in str(info.value)


def test_a_plain_user_agent_is_fine() -> None:
    m = parse_manifest('[settings]\nuser_agent = "Mozilla/5.0 (research; +https://e.org/)"\n')
    assert m.settings["user_agent"].startswith("Mozilla")


@pytest.mark.parametrize("port", ["0", "65536", "99999", "123456789012345678901234567890"])
def test_a_port_out_of_range_is_refused_by_check(port: str) -> None:
    why = url_problem(f"http://127.0.0.1:{port}/p")
    assert why is not None and "out of range" in why and len(why) < 80
    with pytest.raises(ManifestError, match="out of range"):
        parse_manifest(f'[[source]]\nid = "s"\nfootnotes = [1]\nurl = "http://a.org:{port}/"\n')


def test_fetch_of_a_port_out_of_range_is_an_invalid_url_not_a_traceback() -> None:
    (result,) = run_all(["http://127.0.0.1:99999/p"])
    assert result.error_kind == "invalid-url" and result.exchanges == []
