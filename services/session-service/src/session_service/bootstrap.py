"""session-service's composition root: the only reader of Settings."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

import session_service
from caisse_contracts.ids import new_id
from caisse_runtime.database import migrations_beside
from caisse_runtime.service import ServiceRuntime, plain_dsn, serve, utc_now
from session_service.adapters.documents import ReportDocuments
from session_service.adapters.smtp import SmtpMailSender
from session_service.adapters.sql import SqlDatabase
from session_service.config import Settings
from session_service.entrypoints import consumers
from session_service.entrypoints.http import problems
from session_service.entrypoints.http.deps import Services, token_digest
from session_service.entrypoints.http.routes import sessions, totals
from session_service.entrypoints.mail_worker import MailWorker
from session_service.service_layer.close import resume_closes
from session_service.service_layer.mail import MailRetry
from session_service.service_layer.sessions import SessionRules, SessionServices

SERVICE = "session-service"


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(
        SERVICE, settings, versions_dir=migrations_beside(session_service.__file__), has_outbox=True
    )
    runtime.instrument()
    dsn = plain_dsn(settings.database_url.get_secret_value())
    database = SqlDatabase(dsn, size=settings.database_pool_size, what="session-service")
    # The consumer counts tickets on a pool of its own: requests never wait behind a backlog, nor it behind them.
    counting = SqlDatabase(dsn, size=2, what="counting")
    uow = database.work

    rules = SessionRules(
        comment_threshold=settings.variance_comment_threshold,
        close_wait_s=settings.close_wait_s,
        config_wait_s=settings.config_wait_s,
        clock_tolerance_s=settings.clock_tolerance_s,
    )
    session_services = SessionServices(uow=uow, clock=utc_now, new_id=new_id, rules=rules)
    documents = ReportDocuments()
    sender = SmtpMailSender(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_sender,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        starttls=settings.smtp_starttls,
    )
    mail_worker = MailWorker(
        uow=uow,
        clock=utc_now,
        sender=sender,
        documents=documents,
        retry=MailRetry(settings.mail_retry_first_s, settings.mail_retry_max_s),
        poll_s=settings.mail_poll_s,
    )
    consumers.subscribe(
        runtime.require_broker(),
        session_services,
        counting=counting.work,
        group_suffix=settings.consumer_group_suffix,
        max_records=settings.consumer_batch_size,
    )
    app = runtime.app(
        title="Caisse session-service",
        routers=[sessions.router, totals.router],
        on_start=[database.start, counting.start, partial(resume_closes, session_services), mail_worker.start],
        on_stop=[mail_worker.stop, counting.stop, database.stop],
    )
    problems.install(app)
    app.state.runtime = runtime
    app.state.services = Services(
        uow=uow,
        clock=utc_now,
        sessions=session_services,
        documents=documents,
        wake_mail=mail_worker.wake,
        service_token_sha256=token_digest(settings.service_token.get_secret_value())
        if settings.service_token
        else None,
    )
    return app


def main() -> None:
    """The `session-service` console script: serve until SIGTERM."""
    settings = Settings()
    serve(build_app(settings), settings)
