"""A small asyncio client for the Chrome DevTools Protocol over a pipe.

Chromium is started with ``--remote-debugging-pipe``: it reads protocol messages on file
descriptor 3 and writes its own on 4, each a JSON object ending in a NUL byte. No port is
opened (nothing else on the machine can drive the browser) and no extra package is needed.
:class:`Connection` sends commands (``await conn.call(method, params, session=...)``) and
hands every event to the listeners registered for its session.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
from collections.abc import Callable
from typing import Any

MAX_MESSAGE = 512 * 1024 * 1024  # a full-page screenshot arrives as one base64 message

Listener = Callable[[str, dict[str, Any]], None]  # (method, params)


class BrowserError(Exception):
    """The browser crashed, hung, or refused a command (recorded as a failed capture)."""


class Connection:
    """One Chromium process and its DevTools pipe."""

    def __init__(
        self, process: asyncio.subprocess.Process, reader: asyncio.StreamReader, write_fd: int
    ) -> None:
        self.process = process
        self._reader = reader
        self._write_fd = write_fd
        self._next_id = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._listeners: dict[str | None, list[Listener]] = {}
        self.closed = False
        self.gone = asyncio.Event()  # set when the browser crashed, was killed or quit
        self._pump = asyncio.create_task(self._read_loop())

    @classmethod
    async def launch(cls, executable: str, flags: list[str]) -> Connection:
        """Start Chromium with the DevTools pipe on fds 3 (commands in) and 4 (messages out)."""
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # The child's ends go above 9 (close-on-exec) so that placing them at 3 and 4 in the
        # child cannot overwrite one with the other.
        high_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        high_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def child_fds() -> None:  # in the child, before exec: the pipe ends at 3 and 4
            os.dup2(high_r, 3)  # dup2 clears close-on-exec: Chromium inherits 3 and 4 only
            os.dup2(high_w, 4)  # (every other descriptor of ours is non-inheritable)

        process = await asyncio.create_subprocess_exec(
            executable,
            *flags,
            "--remote-debugging-pipe",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=child_fds,
            process_group=0,  # its own process group: a kill reaches the renderers too
        )
        os.close(high_r)
        os.close(high_w)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_MESSAGE)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(from_chrome_r, "rb", 0)
        )
        return cls(process, reader, to_chrome_w)

    def on(self, session: str | None, listener: Listener) -> None:
        """Call ``listener(method, params)`` for every event of ``session`` (None: browser)."""
        self._listeners.setdefault(session, []).append(listener)

    def forget(self, session: str) -> None:
        self._listeners.pop(session, None)

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None
    ) -> dict[str, Any]:
        """Send one command; its result (BrowserError when the browser says no or is gone)."""
        if self.closed:
            raise BrowserError(f"{method}: the browser is gone")
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[self._next_id] = reply
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:  # the pipe is blocking; commands are small and Chromium reads promptly
                data = data[os.write(self._write_fd, data) :]
        except OSError as exc:
            self._waiting.pop(self._next_id, None)
            raise BrowserError(f"{method}: the browser is gone ({exc.strerror})") from None
        return await reply

    async def _read_loop(self) -> None:
        try:
            while True:
                raw = await self._reader.readuntil(b"\0")
                message = json.loads(raw[:-1])
                if "id" in message:
                    future = self._waiting.pop(message["id"], None)
                    if future is None or future.done():
                        continue
                    if "error" in message:
                        error = message["error"].get("message", message["error"])
                        future.set_exception(BrowserError(str(error)))
                    else:
                        future.set_result(message.get("result", {}))
                    continue
                for listener in list(self._listeners.get(message.get("sessionId"), ())):
                    listener(message["method"], message.get("params", {}))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, OSError):
            pass
        finally:
            self._fail_all("the browser closed its DevTools pipe (crashed or killed)")

    def _fail_all(self, why: str) -> None:
        self.closed = True
        self.gone.set()
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(BrowserError(why))
        self._waiting.clear()

    async def close(self, *, grace: float = 5.0) -> None:
        """Ask the browser to quit; kill its process group if it does not within ``grace``."""
        if not self.closed:
            with contextlib.suppress(BrowserError, TimeoutError):
                await asyncio.wait_for(self.call("Browser.close"), grace)
        try:
            await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            self.kill()
            await self.process.wait()
        self._teardown()

    def kill(self) -> None:
        """Kill the browser and everything it started, now (a hung browser)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._fail_all("the browser was killed")

    def _teardown(self) -> None:
        self._pump.cancel()
        with contextlib.suppress(OSError):
            os.close(self._write_fd)
        self.closed = True
