"""session-service's composition root: the only reader of Settings."""

from __future__ import annotations

from fastapi import FastAPI

import session_service
from caisse_contracts.runtime.database import migrations_beside
from caisse_contracts.runtime.service import ServiceRuntime, serve, utc_now
from session_service.adapters.sql import SqlUnitOfWork
from session_service.config import Settings
from session_service.entrypoints import consumers
from session_service.entrypoints.http.deps import Services
from session_service.entrypoints.http.routes import totals

SERVICE = "session-service"


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(
        SERVICE, settings, versions_dir=migrations_beside(session_service.__file__), has_outbox=True
    )
    runtime.instrument()
    engine = runtime.require_engine()
    services = Services(uow=lambda: SqlUnitOfWork(engine), clock=utc_now)
    consumers.register(
        runtime.require_broker(), uow=services.uow, clock=services.clock, group_suffix=settings.consumer_group_suffix
    )
    app = runtime.app(title="Caisse session-service", routers=[totals.router])
    app.state.runtime = runtime
    app.state.services = services
    return app


def main() -> None:
    """The `session-service` console script: serve until SIGTERM."""
    settings = Settings()
    serve(build_app(settings), settings)
