"""Extraction workers: the process pool that runs main-text extraction off the event loop.

Extraction (~30 ms a page) is the expensive part of a capture; fetch and import-warc both
send payloads here. It is bounded like the download (``Settings.extract_*``, named defaults
in :mod:`citearchive.config`):

- markup larger than ``extract_max_markup`` is never handed to the extractor
  (:func:`markup_problem`, checked before the payload leaves the parent);
- each job has ``extract_timeout`` seconds and each worker ``extract_max_memory`` bytes of
  address space beyond its start (``RLIMIT_AS``): a worker over either is killed and
  replaced (:class:`~citearchive.capture.pool.LimitedPool`), the job fails with
  :class:`ExtractionFailed`, the capture keeps its WARC records and row with
  ``error_kind = "extract"`` (:func:`failure_columns`), and the run goes on.

A worker loads the language model before its first page and ends when the process that
started it dies, even while it is still starting, so a killed run leaves no workers behind.
"""

from __future__ import annotations

import dataclasses
import gc
import os
from concurrent.futures import Executor
from typing import Any

from ..config import Settings
from ..warc.httpmeta import format_size
from .adapters import adapter_for
from .extract import Extraction, decode_html, detect_language, extract, sniff_kind, text_sha256
from .memento import strip_replay_banner
from .pool import JobFailed, LimitedPool, tune_malloc

ExtractionFailed = JobFailed  # the name callers catch: over a limit, or its worker died

WARM_UP = "warm-up: загрузка модели, モデルを読み込む"


def extraction_pool(settings: Settings | None = None) -> LimitedPool:
    """A pool with one worker per core, bounded by ``settings``' extraction limits."""
    settings = settings or Settings()
    tune_malloc()  # this process's and, inherited, its workers' (see pool.tune_malloc)
    init_worker()  # loaded once here, the model is shared by every forked worker
    # The objects alive now are frozen out of the garbage collector, whose passes would
    # otherwise write to (and so copy) every page of them in every forked worker.
    gc.freeze()
    return LimitedPool(
        os.cpu_count() or 2,
        timeout=settings.extract_timeout,
        memory=settings.extract_max_memory,
        initializer=init_worker,
    )


def markup_problem(body: bytes, content_type: str | None, settings: Settings) -> str | None:
    """Why ``body`` is not handed to the extractor (HTML or text over the markup cap), or
    None. A PDF goes to the pool whatever its size: the pool's limits bound it."""
    cap = settings.extract_max_markup
    if len(body) <= cap or sniff_kind(body, content_type) not in ("html", "text"):
        return None
    return (
        f"text not extracted: the page is {format_size(len(body))}, over the "
        f"{format_size(cap)} extraction cap (extract_max_markup)"
    )


def failure_columns(row: dict[str, Any], words: str) -> dict[str, Any]:
    """The row's error columns once extraction failed: ``error_kind`` "extract" and the
    reason, unless the capture had already failed (that error stays first)."""
    if row.get("error") is None:
        return {"error": words, "error_kind": "extract"}
    return {"error": f"{row['error']}; {words}"}


def extract_job(
    url: str,
    body: bytes,
    content_type: str | None,
    declared_language: str | None,
    replay: bool = False,
) -> Extraction:
    """Extraction for one payload (runs in a worker process): site adapter, then generic.

    ``replay``: the payload is a web archive's copy; its replay banner is cut first.
    """
    if replay:
        body = strip_replay_banner(body)
    result = extract(body, content_type, url, declared_language)
    adapter = adapter_for(url)
    if adapter is not None and result.kind == "html" and result.text is not None:
        html = decode_html(body, content_type)[0]
        title, text = adapter.extract_text(url, html)
        if text:
            result = dataclasses.replace(
                result, title=title or result.title, text=text, text_sha256=text_sha256(text),
                suspect=None if len(text) > 0 else result.suspect,
            )  # fmt: skip
    return result


def init_worker() -> None:
    """Extraction worker initializer: load the language model before the first page (a
    no-op in a worker forked after the parent loaded it; the pool has already tied the
    worker's life to its parent's). trafilatura's jusText stoplist (every language's stop
    words: a tuple, then jusText's lower-cased frozenset of it, ~30 MB, built on the first
    page that needs jusText) is built here too: built before the fork it is shared, built
    in each worker it is private to each."""
    detect_language(WARM_UP)
    from justext.core import define_stoplist
    from trafilatura import external

    define_stoplist(external.JT_STOPLIST or external.jt_stoplist_init())


def pool_shutdown(pool: Executor) -> None:
    pool.shutdown(wait=True, cancel_futures=True)
