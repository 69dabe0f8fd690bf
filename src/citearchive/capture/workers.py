"""Extraction workers: the process pool that runs main-text extraction off the event loop.

Extraction (~30 ms a page) is the expensive part of a capture; fetch and import-warc both
send payloads here. A worker loads the language model before its first page and ends when
the process that started it dies, so a killed run leaves no workers behind.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor

from .adapters import adapter_for
from .extract import Extraction, decode_html, detect_language, extract, text_sha256
from .memento import strip_replay_banner

WARM_UP = "warm-up: загрузка модели, モデルを読み込む"


def extraction_pool() -> ProcessPoolExecutor:
    """A pool with one worker per core, forked from this process.

    The language model (~70 MB of arrays) is loaded here, before the fork, so that the
    workers share its pages instead of each loading a copy; and the objects alive now are
    frozen out of the garbage collector, whose passes would otherwise write to (and so
    copy) every page of them in every worker. Together they take about a third off the
    process tree's memory (PSS).
    """
    detect_language(WARM_UP)
    gc.freeze()
    return ProcessPoolExecutor(max_workers=os.cpu_count() or 2, initializer=init_worker)


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
    """Extraction worker initializer: load the language model before the first page, and
    end this worker when the process that started it dies (a killed ``fetch`` must not
    leave extraction workers behind)."""
    detect_language(WARM_UP)  # loaded already when forked; a no-op then
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def pool_shutdown(pool: Executor) -> None:
    pool.shutdown(wait=True, cancel_futures=True)
