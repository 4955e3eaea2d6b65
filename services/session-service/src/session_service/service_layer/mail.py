"""Use case: e-mail the Z reports queued at the close, retrying with a growing pause while the server is down.

The queue row is written in the close's transaction, so the close never waits for the mail server; a sender
holds the rows it works on (`FOR UPDATE SKIP LOCKED`), so two senders never send one report twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from session_service.service_layer.ports import (
    Attachment,
    Clock,
    Documents,
    MailNotSentError,
    MailSender,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MailRetry:
    first_s: float = 30.0
    max_s: float = 3600.0

    def after(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.first_s * 2 ** max(attempts - 1, 0), self.max_s))


async def send_due_mail(
    *,
    uow: UnitOfWorkFactory,
    clock: Clock,
    sender: MailSender,
    documents: Documents,
    retry: MailRetry,
    limit: int = 20,
) -> int:
    """Send the reports whose turn has come; the number sent."""
    sent = 0
    async with uow() as work:
        now = clock()
        for mail in await work.mail.due(now, limit):
            report = await work.reports.get(mail.session_id)
            if report is None:
                await work.mail.failed(
                    mail.mail_id, "no report stored for this session", now + retry.after(mail.attempts + 1)
                )
                continue
            day = report.closed_at.date().isoformat()
            try:
                await sender.send(
                    recipients=mail.recipients,
                    subject=f"Rapport Z {report.shop} {report.pos} du {day}",
                    text=documents.report_text(report),
                    html=documents.report_html(report),
                    attachments=[
                        Attachment(
                            f"rapport-z-{day}-{report.pos}.pdf", "application/pdf", documents.report_pdf(report)
                        ),
                        Attachment(
                            f"bordereau-remise-{day}-{report.pos}.pdf",
                            "application/pdf",
                            documents.deposit_slip_pdf(report),
                        ),
                    ],
                )
            except MailNotSentError as exc:
                attempt = mail.attempts + 1
                log.warning("Z report of session %s not sent (attempt %d): %s", mail.session_id, attempt, exc)
                await work.mail.failed(mail.mail_id, str(exc)[:1000], now + retry.after(attempt))
                continue
            await work.mail.sent(mail.mail_id, clock())
            sent += 1
        await work.commit()
    return sent
