"""Provenance: what the index says of a capture is what its WARC record says, and the capture
is of its source.

Two checks (finding F3):

- :func:`record_problems`, part of fixity: every provenance column the WARC record states
  too must agree with it. ``captures.url`` is the record's ``WARC-Target-URI``;
  ``fetched_at`` is its ``WARC-Date`` to the second (the index keeps seconds, the record
  microseconds); ``ip`` is its ``WARC-IP-Address`` (both absent, or the same address). An
  edited date (exported as Robust Links' ``data-versiondate``) or URL fails fixity.
- :func:`belonging_problem`, part of choosing evidence: a capture counts for its source only
  when the URL it asked for is the source's ``url`` or one of its ``alternates`` (compared as
  import-warc matches them: scheme, ``www.``, default port, trailing slash and tracking
  parameters aside), a site adapter's extra view of one of them (Telegram's embed), or a web
  archive's memento of one of them (its ``original_url``); and when the URL it reached is the
  one asked for or the end of its recorded redirect chain, which starts at the one asked for
  (a browser capture lists no chain: its redirects are network records in the WARC).
  A capture of another page (a row moved to another source, or a source whose URL was later
  changed) is not that source's evidence.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin

from ..capture.adapters import adapter_for, match_key
from ..warc.record import RecordFacts

BROWSER_METHODS = ("browser", "embed")  # "embed": an adapter's extra view, maybe in a browser


def _when(text: str | None) -> dt.datetime | None:
    """A WARC-Date or ``fetched_at`` as a UTC instant cut to the second (None: unreadable)."""
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).replace(microsecond=0)


def _bare(uri: str | None) -> str | None:
    """A WARC header URI without the angle brackets WARC 1.0 writers put around it."""
    if uri is None:
        return None
    uri = uri.strip()
    return uri[1:-1] if uri.startswith("<") and uri.endswith(">") else uri


def record_problems(
    url: str | None, fetched_at: str | None, ip: str | None, facts: RecordFacts
) -> list[str]:
    """What the index's ``url``, ``fetched_at`` and ``ip`` say that the record does not."""
    problems = []
    target = _bare(facts.target_uri)
    if url != target:
        problems.append(f"captures.url {url!r} is not the record's WARC-Target-URI {target!r}")
    stated, recorded = _when(fetched_at), _when(facts.warc_date)
    if stated is None or stated != recorded:
        problems.append(
            f"captures.fetched_at {fetched_at!r} is not the record's WARC-Date {facts.warc_date!r}"
        )
    if (ip or None) != (facts.ip or None):
        problems.append(f"captures.ip {ip!r} is not the record's WARC-IP-Address {facts.ip!r}")
    return problems


def _keys(urls: Sequence[str | None]) -> set[str]:
    keys = set()
    for url in urls:
        if not url:
            continue
        keys.add(match_key(url) or url)
        adapter = adapter_for(url)
        if adapter is not None:
            keys.update(match_key(extra) or extra for extra in adapter.extra_urls(url))
    return keys


def _hops(redirects: Any) -> list[Any] | None:
    """The recorded redirect hops ([] when none; None when they cannot be read)."""
    if isinstance(redirects, str):
        try:
            redirects = json.loads(redirects)
        except ValueError:
            return None
    if redirects is None:
        return []
    return redirects if isinstance(redirects, list) else None


def _chain_problem(redirects: list[Any] | None, asked: str, reached: str) -> str | None:
    """Why the recorded redirect chain does not lead from ``asked`` to ``reached``."""
    if redirects is None:
        return "its recorded redirects cannot be read"
    hops = [h for h in redirects if isinstance(h, dict)]
    if not hops or len(hops) != len(redirects):
        return f"no recorded redirect leads from {asked!r} to it"
    at = asked
    for hop in hops:
        if hop.get("url") != at:
            return f"its recorded redirects start from {hop.get('url')!r}, not {at!r}"
        at = urljoin(at, str(hop.get("location") or ""))
    return None if at == reached else f"its recorded redirects end at {at!r}"


def belonging_problem(row: dict[str, Any], cited: Sequence[str | None]) -> str | None:
    """Why capture ``row`` is not evidence for a source citing the URLs ``cited`` (its url
    and alternates); None when it is."""
    keys = _keys(cited)
    asked = row.get("requested_url")
    if row.get("method") == "memento":
        original = row.get("original_url")
        if not original or (match_key(original) or original) not in keys:
            return (
                f"capture {row['id']} is a memento of {original!r}, not of the source's URL "
                "or alternates"
            )
    elif not asked or (match_key(asked) or asked) not in keys:
        return f"capture {row['id']} is of {asked!r}, not the source's URL or alternates"
    reached = row.get("url")
    if not reached or not asked or reached == asked:
        return None
    hops = _hops(row.get("redirects"))
    if hops == [] and row.get("method") in BROWSER_METHODS:
        return None  # a browser's redirects are network records in the WARC, not a list
    problem = _chain_problem(hops, asked, reached)
    return None if problem is None else f"capture {row['id']} reached {reached!r}: {problem}"
