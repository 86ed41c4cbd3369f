"""Group commit for the vault service: the audited gets that arrive together share one transaction.

Every get writes an audit entry, and every commit is a durable write (on SQLite a write lock taken and a WAL
fsync, on PostgreSQL a WAL flush): one request at a time, the commit is much of a get. :class:`GroupCommit`
queues the work of the requests that reach the loop together and runs the queue as one
:meth:`vault.store.Vault._group`: each request's work in its own savepoint (a request that fails rolls back alone
and answers its own error), one commit for all. A request's answer leaves only after that commit: if it fails,
every request of the group answers the commit's error and no token is served without its audit entry on disk.
While one group commits, the requests that arrive meanwhile form the next group, so the groups grow with the load
by themselves, with no timer and no added wait. A lone request runs with no group around it: its operations commit
as they go, as they would outside the service, without the savepoint a group of one would add (two round trips on
PostgreSQL, two statements on SQLite); its answer still leaves only after its commit. On SQLite the groups run on
the event loop; ``threaded`` (PostgreSQL) runs them in one worker thread, so a slow database holds the group, not
the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from vault.store import Vault

__all__ = ["GroupCommit"]


class GroupCommit:
    """Runs blocking vault work grouped into shared transactions (see the module): on the event loop itself
    (SQLite), or with ``threaded`` in one worker thread of its own (PostgreSQL: a slow database then holds the
    group, not the loop, and the requests arriving meanwhile form the next group)."""

    def __init__(self, vault: Vault, *, threaded: bool = False) -> None:
        self.vault = vault
        self.threaded = threaded
        self._queue: list[tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]] = []
        self._scheduled = False
        self._worker: ThreadPoolExecutor | None = None
        self.groups = 0
        """Transactions committed (or tried) so far."""
        self.grouped = 0
        """Requests' work run in them."""

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` inside the next group; its result once the group has committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((fn, args, future))
        if not self._scheduled:  # after the tasks already ready to run: the requests read with this one join it
            self._scheduled = True
            loop.call_soon(self._start if self.threaded else self._flush, loop)
        return await future

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True)

    def _take(self) -> list[tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]]:
        batch = [item for item in self._queue if not item[2].cancelled()]  # a client gone before its turn
        self._queue = []
        self.groups += 1
        self.grouped += len(batch)
        return batch

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        batch = self._take()
        self._settle(batch, *self._group(batch))

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        """(threaded) Hand the queue to the worker; ``_scheduled`` stays set until it has settled."""
        batch = self._take()
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="vault-group")

        def work() -> None:
            failure, outcomes = self._group(batch)
            loop.call_soon_threadsafe(self._settled, loop, batch, failure, outcomes)

        self._worker.submit(work)

    def _settled(self, loop: asyncio.AbstractEventLoop, batch: Any, failure: Any, outcomes: Any) -> None:
        self._settle(batch, failure, outcomes)
        if self._queue:
            self._start(loop)
        else:
            self._scheduled = False

    def _group(self, batch: list[Any]) -> tuple[Exception | None, list[tuple[bool, Any]]]:
        """Run the batch in one group: (the group's failure or None, each request's outcome)."""
        outcomes: list[tuple[bool, Any]] = []
        if len(batch) == 1:  # alone (see the module): no group, no savepoint to pay for
            fn, args, _ = batch[0]
            try:
                return None, [(True, fn(*args))]
            except Exception as exc:
                return None, [(False, exc)]
        try:
            with self.vault._group():
                for fn, args, _ in batch:
                    try:
                        outcomes.append((True, fn(*args)))
                    except Exception as exc:  # that request's own answer (its savepoint rolled back)
                        outcomes.append((False, exc))
        except Exception as exc:  # the commit failed (or the transaction died): nothing of the group counts
            return exc, []
        return None, outcomes

    @staticmethod
    def _settle(batch: list[Any], failure: Exception | None, outcomes: list[tuple[bool, Any]]) -> None:
        if failure is not None:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            return
        for (_, _, future), (ok, value) in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
