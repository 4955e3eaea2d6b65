"""The background sender of queued Z report e-mails: wakes every few seconds and sends what is due."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from session_service.service_layer.mail import MailRetry, send_due_mail
from session_service.service_layer.ports import Clock, Documents, MailSender, UnitOfWorkFactory

log = logging.getLogger(__name__)


class MailWorker:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        sender: MailSender,
        documents: Documents,
        retry: MailRetry,
        poll_s: float = 2.0,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._sender = sender
        self._documents = documents
        self._retry = retry
        self._poll_s = poll_s
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """A report was just queued: send it now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="mail worker")

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=15)
            self._task = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await send_due_mail(
                    uow=self._uow, clock=self._clock, sender=self._sender, documents=self._documents, retry=self._retry
                )
            except Exception:  # the database blinked: the rows stay due and the next round sends them
                log.exception("mail worker: sending round failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_s)
