"""Background tasks that must not die quietly.

Each long-running task (answer inbox, grading worker, platform clients, ...) runs under a
`Supervisor`: an unexpected exit (an exception, or returning while nobody asked it to stop) is
logged once with its cause and the task is restarted with exponential backoff. A failure that
a restart cannot fix (a revoked token, a refused intent) is raised as `Fatal`: the supervisor
records it, logs its one line, and sets `failed`, on which the launcher stops the process with
a non-zero exit code so compose's `restart:` or Kubernetes can act and alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


class Fatal(RuntimeError):
    """A failure no restart can fix. The message is the one line an operator reads: it names
    the setting or the place (developer portal, app config) where the fix is."""

    def __init__(self, line: str, *, exit_code: int = 1):
        super().__init__(line)
        self.exit_code = exit_code  # 2: the configuration is wrong (as for a bad setting)


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 1.0
    maximum: float = 60.0
    healthy_after: float = 60.0  # a run at least this long starts the next backoff from `initial`


@dataclass(slots=True)
class TaskState:
    name: str
    restarts: int = 0
    last_error: str | None = None  # why it last stopped, while it waits to restart
    waiting: bool = False  # in its backoff sleep, i.e. not running right now


class Supervisor:
    def __init__(self, backoff: Backoff | None = None, on_restart: Callable[[str], None] | None = None):
        self._backoff = backoff or Backoff()
        self._on_restart = on_restart  # e.g. a counter per task, for alerts on crash loops
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.states: dict[str, TaskState] = {}
        self.fatal: Fatal | None = None
        self.failed = asyncio.Event()
        self._closing = False

    def spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run `run()` as task `name`, restarting it whenever it ends until `cancel`/`close`."""
        if name in self._tasks and not self._tasks[name].done():
            raise RuntimeError(f"task {name} is already supervised")
        self.states[name] = TaskState(name)
        self._tasks[name] = asyncio.create_task(self._supervise(name, run), name=name)

    def fail(self, fatal: Fatal) -> None:
        """Record a failure a restart cannot fix (the first one wins) and ask the process to stop."""
        if self.fatal is None:
            self.fatal = fatal
            log.critical("%s", fatal)
        self.failed.set()

    async def cancel(self, name: str) -> None:
        """Stop one task for good (e.g. an adapter shutting its client down): no restart follows."""
        task = self._tasks.pop(name, None)
        self.states.pop(name, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def shutting_down(self) -> None:
        """From now on a task that ends was asked to (its stop event is set): no log, no restart."""
        self._closing = True

    async def close(self) -> None:
        self._closing = True
        for name in list(self._tasks):
            await self.cancel(name)

    def problems(self) -> dict[str, str]:
        """Tasks that are not running now (waiting to restart), with why they stopped."""
        return {s.name: s.last_error or "stopped" for s in self.states.values() if s.waiting}

    async def _supervise(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        loop = asyncio.get_running_loop()
        delay = self._backoff.initial
        state = self.states[name]
        while True:
            started = loop.time()
            error: BaseException | None = None
            try:
                await run()
                cause = "it returned"
            except Fatal as exc:
                self.fail(exc)
                return
            except Exception as exc:  # noqa: BLE001 - any exit is logged and restarted
                error, cause = exc, f"{type(exc).__name__}: {exc}"
            if self._closing:
                return
            if loop.time() - started >= self._backoff.healthy_after:
                delay = self._backoff.initial
            state.restarts += 1
            if self._on_restart is not None:
                self._on_restart(name)
            state.last_error, state.waiting = cause, True
            # One record per exit; the traceback says where (a task dying is a bug, not an outage).
            log.error("background task %s stopped unexpectedly (%s); restarting in %.0f s", name, cause, delay, exc_info=error)
            await asyncio.sleep(delay)
            state.waiting = False
            delay = min(delay * 2, self._backoff.maximum)
