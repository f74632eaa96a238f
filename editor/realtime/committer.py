"""Group commit: the ops waiting for one document, committed in one transaction.

A document's hub (:mod:`editor.realtime.hub`) commits through one :class:`Committer`.
While a batch commits on the database thread, the next submissions wait; then they all
commit together, up to COMMIT_BATCH, through
:func:`editor.domain.services.operations_commit`. The committed revisions are handed to
``publish`` (the hub: its feeds, then the other processes) before any sender hears
back, so a sender's ``ack`` is already on its way when :meth:`Committer.commit` returns.

An op whose base is older than the state remembers is first rebased over the history
(:func:`editor.domain.services.submission_read_ahead`), ``COLLAB_CATCHUP_BATCH``
revisions per call on the database thread, before it joins the queue: the commits of
others go on between those calls, and its own commit holds the lock only to rebase it
over what was committed since.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..domain import services
from ..domain.state import DocumentState
from . import dbthread, metrics, protocol

log = logging.getLogger(__name__)

# Most ops committed in one transaction when several wait.
COMMIT_BATCH = 64


class Committer:
    """The submissions waiting to commit to one document, and the task committing them."""

    def __init__(
        self,
        document_id: str,
        *,
        publish: Callable[[list[dict]], Awaitable[None]],
        on_failure: Callable[[], None],
        commit: Callable[[list], list] | None = None,
    ) -> None:
        self.document_id = document_id
        self._publish = publish  # hands committed revisions out, here and to other processes
        self._on_failure = on_failure  # committed but not handed out: check the database later
        # Commits a batch on the database thread: the services, unless a test stands in.
        self._commit = commit or self._commit_with_state
        self._reads_ahead = commit is None  # a stand-in commits as it likes
        # The document as the last commit left it; read and written on the database
        # thread only, by one commit at a time.
        self.state: DocumentState | None = None
        self._queue: list[tuple[Any, asyncio.Future]] = []  # submissions waiting to commit
        self._task: asyncio.Task | None = None
        self._reading = 0  # submissions being rebased ahead, not yet queued

    @property
    def busy(self) -> bool:
        """Whether a submission waits or a batch is committing."""
        return bool(self._queue) or self._task is not None or self._reading > 0

    async def commit(self, submission):
        """Commit a submission, together with whatever else is waiting (group commit).

        Returns what :func:`editor.domain.services.operations_commit` made of it: a
        ``Committed`` or the error refusing it. New revisions are published before
        this returns, so the sender's ``ack`` is already on its way.
        """
        # Read on this thread, the state may be changing: a wrong guess costs only a
        # read ahead for nothing, or leaves the rebase to the commit, which reads ahead.
        state = self.state
        if self._reads_ahead and state is not None and submission.base < state.oldest:
            submission = await self._read_ahead(submission)
        future = asyncio.get_running_loop().create_future()
        self._queue.append((submission, future))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._commit_waiting())
        with metrics.commit_timer():
            return await future

    def _commit_with_state(self, submissions: list) -> list:
        """Commit on the database thread, keeping the state of the document."""
        if self.state is None:
            self.state = services.document_state(document_id=self.document_id)
        return services.operations_commit(document_id=self.document_id, submissions=submissions, state=self.state)

    async def _read_ahead(self, submission):
        """Rebase a far-behind submission over the history, one batch per call on the
        database thread, until the state remembers the rest."""
        self._reading += 1
        try:
            more = True
            while more:
                submission, more = await dbthread.run(self._read_ahead_batch, submission)
            return submission
        finally:
            self._reading -= 1

    def _read_ahead_batch(self, submission) -> tuple[Any, bool]:
        assert self.state is not None  # set before any read ahead
        return services.submission_read_ahead(document_id=self.document_id, submission=submission, state=self.state)

    async def _commit_waiting(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:COMMIT_BATCH], self._queue[COMMIT_BATCH:]
                try:
                    results = await dbthread.run(self._commit, [s for s, _ in batch])
                except Exception as exc:  # the whole transaction failed: each sender hears of it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                announcements = [
                    protocol.op_message(
                        rev=result.revision,
                        client=s.client,
                        seq=s.seq,
                        user_id=s.user.pk,
                        user_name=s.user.get_username(),
                        ops=result.ops,
                    )
                    for (s, _), result in zip(batch, results)
                    if not isinstance(result, Exception) and not result.duplicate
                ]
                try:
                    if announcements:
                        metrics.OPS_COMMITTED.inc(len(announcements))
                        await self._publish(announcements)
                except Exception as exc:
                    # Committed, but not handed out here (the database went away while
                    # a gap was filled). The senders hear of a server fault, reconnect,
                    # and are acked when they resend; the other connections get the
                    # revisions at the next delivery or the check after a quiet spell.
                    log.warning("handing out revisions of %s failed", self.document_id, exc_info=True)
                    self._on_failure()
                    for (_, future), result in zip(batch, results):
                        if not future.done():
                            if isinstance(result, Exception):
                                future.set_result(result)
                            else:
                                future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._task = None
