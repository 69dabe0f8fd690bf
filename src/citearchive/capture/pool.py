"""A process pool whose workers are bounded in time and memory, and replaced when they fail.

``concurrent.futures.ProcessPoolExecutor`` cannot bound one job: a job that runs forever
holds its worker forever, and a worker that dies (out of memory, a crash in C code) breaks
the whole pool and every job in it. :class:`LimitedPool` is an ``Executor`` (so
``loop.run_in_executor`` and ``submit`` work as usual) in which each job has a time limit
and each worker a ceiling on the address space it may add (``RLIMIT_AS``, set by the worker
itself when it starts). A job over its time is killed with its worker; a worker that runs
out of memory ends itself after reporting it; a worker that dies for any other reason is
noticed. In each case that job's future fails with :class:`JobFailed` (its reason in
words), a fresh worker takes the slot, and every other job goes on.

One thread per worker slot feeds its worker one job at a time over a pipe; workers are
forked (they share the parent's loaded modules) and exit when the process that started
them dies, even during their own start-up (the parent's pid is recorded before the fork).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import queue
import resource
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from multiprocessing.connection import Connection, wait
from typing import Any

from ..warc.httpmeta import format_size

WATCH_INTERVAL = 0.2  # seconds between a worker's checks that its parent is alive
# Workers are started one at a time: a fork while another worker's pipe ends are still open
# in the parent would hand them to the new worker, which would then hide the other's death.
_START_LOCK = threading.Lock()
START_TIMEOUT = 120.0  # seconds a new worker may take to load its modules and model

__all__ = ["JobFailed", "LimitedPool"]


class JobFailed(Exception):
    """A job did not finish: over its time limit, out of memory, or its worker died."""


class _OutOfMemory(Exception):
    pass


def _address_space() -> int | None:
    """This process's virtual memory size in bytes (Linux), or None."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def limit_memory(extra: int) -> None:
    """Let this process grow its address space by at most ``extra`` bytes from now on."""
    used = _address_space()
    if used is None:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = used + extra
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def exit_with_parent(parent: int) -> None:
    """End this process as soon as ``parent`` is no longer its parent.

    ``parent`` is the pid recorded by the parent before it forked this process, so a
    parent that died while this one was starting is noticed at once (``os.getppid()`` read
    here would already be the adopter's pid).
    """
    if os.getppid() != parent:
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_INTERVAL)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
MMAP_THRESHOLD = 256 * 1024  # larger blocks are mapped alone, and unmapped when freed


TRIM_SLACK = 32 * 1024 * 1024  # free heap a worker may keep; more is trimmed


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (2.33 and later)."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                     "uordblks", "fordblks", "keepcost")
    ]  # fmt: skip


def _libc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018 - glibc only
    except (OSError, AttributeError):
        return None
    if hasattr(libc, "mallinfo2"):
        libc.mallinfo2.restype = _MallInfo2
    return libc


_LIBC = _libc()


def tune_malloc() -> None:
    """A fixed mmap threshold, so the big blocks of a large page's parse go back to the
    system when freed (glibc raises the threshold as large blocks are freed, and then keeps
    them in the heap), and a low trim threshold. Set in the process that makes the pool:
    the workers it forks inherit it."""
    if _LIBC is not None:
        _LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        _LIBC.mallopt(M_TRIM_THRESHOLD, MMAP_THRESHOLD)


def release_memory() -> None:
    """Give the heap freed by the last job back to the system (glibc's ``malloc_trim``)
    once more than ``TRIM_SLACK`` of it is free: parsing a large page leaves a worker's heap
    at its high-water mark otherwise, and two workers that each keep ~80 MB they no longer
    use are most of the process tree. Trimming after every page cost ~4 ms of page faults a
    page (the next page touches the returned memory again), for a few MB each time."""
    if _LIBC is None:
        return
    if hasattr(_LIBC, "mallinfo2") and _LIBC.mallinfo2().fordblks <= TRIM_SLACK:
        return
    _LIBC.malloc_trim(0)


def _worker_main(
    conn: Connection,
    parent: int,
    memory: int | None,
    initializer: Callable[[], None] | None,
) -> None:
    """A worker: run the jobs the pipe brings until it closes; report a lack of memory and
    end (a process that ran out of memory is not trusted with the next job)."""
    exit_with_parent(parent)  # first, before anything slow
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if initializer is not None:
        initializer()
    if memory is not None:  # counted from here: the jobs' growth, not the modules'
        limit_memory(memory)
    conn.send((True, "ready"))  # a job's time limit counts from here, not from the fork
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        if job is None:
            os._exit(0)
        fn, args, kwargs = job
        try:
            result: tuple[bool, Any] = (True, fn(*args, **kwargs))
        except MemoryError:
            job = result = None  # type: ignore[assignment]  # free what we can first
            conn.send((False, _OutOfMemory()))
            os._exit(1)
        except Exception as exc:  # an ordinary error: the caller's to see, as in any pool
            result = (False, exc)
        try:
            conn.send(result)
        except Exception as exc:  # unpicklable result or exception
            conn.send((False, JobFailed(f"could not send the result back: {exc!r}"[:300])))
        job = result = None  # type: ignore[assignment]
        release_memory()


class _Worker:
    """One worker process and the pipe to it (parent side)."""

    def __init__(self, pool: LimitedPool) -> None:
        ctx = multiprocessing.get_context("fork")
        with _START_LOCK:
            self.conn, child = ctx.Pipe()
            self.process = ctx.Process(
                target=_worker_main,
                args=(child, os.getpid(), pool.memory, pool.initializer),
                daemon=True,
                name="citearchive-extract",
            )
            self.process.start()
            child.close()
        self.started = False

    def start(self) -> None:
        """Wait for the worker's initializer; JobFailed when the worker cannot start."""
        if wait([self.conn, self.process.sentinel], START_TIMEOUT) and self.conn.poll():
            self.conn.recv()
            self.started = True
            return
        if self.process.is_alive():
            raise JobFailed(f"the extraction worker did not start in {START_TIMEOUT:g} s")
        raise JobFailed(self._death())

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
            timeout: float | None, memory: int | None) -> tuple[bool, Any]:  # fmt: skip
        """(True, result), (False, the job's exception), or raise JobFailed (the worker is
        then dead or killed, and must be replaced)."""
        if not self.started:
            self.start()
        try:
            self.conn.send((fn, args, kwargs))
        except (OSError, EOFError):
            raise JobFailed(self._death()) from None
        ready = wait([self.conn, self.process.sentinel], timeout)
        if self.conn not in ready:
            if not ready:  # the time limit passed
                self.kill()
                raise JobFailed(f"took longer than the {timeout:g} s extraction time limit")
            raise JobFailed(self._death())
        try:
            ok, value = self.conn.recv()
        except (EOFError, OSError):
            raise JobFailed(self._death()) from None
        if isinstance(value, _OutOfMemory):
            self.kill()
            limit = f" ({format_size(memory)} per worker)" if memory else ""
            raise JobFailed(f"ran out of memory{limit}")
        return ok, value

    def _death(self) -> str:
        self.process.join(5)
        code = self.process.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the extraction worker was killed by {name}"
        return f"the extraction worker ended unexpectedly (exit code {code})"

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self.conn.send(None)
        self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2)
        self.conn.close()


_Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class LimitedPool(Executor):
    """``workers`` processes; each job at most ``timeout`` seconds, each worker at most
    ``memory`` more bytes of address space than it had at its start (None: no limit)."""

    def __init__(
        self,
        workers: int,
        *,
        timeout: float | None = None,
        memory: int | None = None,
        initializer: Callable[[], None] | None = None,
    ) -> None:
        self.timeout, self.memory, self.initializer = timeout, memory, initializer
        self.replaced = 0  # workers killed or lost and replaced (for reports and tests)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._serve, daemon=True, name=f"pool-slot-{i}")
            for i in range(max(1, workers))
        ]
        for t in self._threads:
            t.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to a pool that was shut down")
            future: Future[Any] = Future()
            self._jobs.put((future, fn, args, kwargs))
        return future

    def _serve(self) -> None:
        worker: _Worker | None = None
        try:
            while (job := self._jobs.get()) is not None:
                future, fn, args, kwargs = job
                if not future.set_running_or_notify_cancel():
                    continue
                if worker is None:
                    worker = _Worker(self)
                try:
                    ok, value = worker.run(fn, args, kwargs, self.timeout, self.memory)
                except JobFailed as exc:
                    worker.kill()
                    worker = None
                    with self._lock:
                        self.replaced += 1
                    future.set_exception(exc)
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        finally:
            if worker is not None:
                worker.stop()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                if cancel_futures:
                    self._cancel_waiting()
                for _ in self._threads:
                    self._jobs.put(None)
        if wait:
            for t in self._threads:
                t.join()

    def _cancel_waiting(self) -> None:
        kept: list[_Job | None] = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                kept.append(job)
            else:
                job[0].cancel()
        for job in kept:
            self._jobs.put(job)
