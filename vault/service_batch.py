"""Group commit for the vault service on SQLite: the audited gets that arrive together share one transaction.

Every get writes an audit entry, and on SQLite every commit is a write lock taken and a WAL fsync: one request at
a time, the fsync is most of a get (and the whole event loop waits on it). :class:`GroupCommit` queues the work of
the requests that reach the loop together and runs the queue as one :meth:`vault.store.Vault._group`: each
request's work in its own savepoint (a request that fails rolls back alone and answers its own error), one commit
for all. A request's answer leaves only after that commit: if it fails, every request of the group answers the
commit's error and no token is served without its audit entry on disk. While one group commits, the requests
that arrive wait in the kernel's buffers and form the next group, so the groups grow with the load by
themselves; a lone request is a group of one (no timer, no added wait).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from vault.store import Vault

__all__ = ["GroupCommit"]


class GroupCommit:
    """Runs blocking vault work on the event loop, grouped into shared transactions (see the module)."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self._queue: list[tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]] = []
        self._scheduled = False
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
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._queue = self._queue, []
        outcomes: list[tuple[bool, Any]] = []
        self.groups += 1
        self.grouped += len(batch)
        try:
            with self.vault._group():
                for fn, args, future in batch:
                    if future.cancelled():  # its client went away before its turn
                        outcomes.append((False, None))
                        continue
                    try:
                        outcomes.append((True, fn(*args)))
                    except Exception as exc:  # that request's own answer (its savepoint rolled back)
                        outcomes.append((False, exc))
        except Exception as exc:  # the commit failed (or the transaction died): nothing of the group counts
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), (ok, value) in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
