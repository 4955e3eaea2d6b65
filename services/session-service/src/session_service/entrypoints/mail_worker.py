"""The background sender of queued Z report e-mails: wakes every few seconds and sends what is due."""

from __future__ import annotations

from caisse_runtime.worker import BackgroundWorker
from session_service.service_layer.mail import MailRetry, send_due_mail
from session_service.service_layer.ports import Clock, Documents, MailSender, UnitOfWorkFactory


class MailWorker(BackgroundWorker):
    """`wake()` when a report was just queued: it is sent now rather than at the next poll."""

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
        super().__init__("mail worker", idle_s=poll_s)
        self._uow = uow
        self._clock = clock
        self._sender = sender
        self._documents = documents
        self._retry = retry

    async def round(self) -> None:
        await send_due_mail(
            uow=self._uow, clock=self._clock, sender=self._sender, documents=self._documents, retry=self._retry
        )
