"""notifier's composition root: the only reader of Settings."""

from __future__ import annotations

from fastapi import FastAPI

import notifier
from caisse_runtime.database import migrations_beside
from caisse_runtime.service import ServiceRuntime, serve
from notifier.config import Settings

SERVICE = "notifier"


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings, versions_dir=migrations_beside(notifier.__file__), has_outbox=True)
    runtime.instrument()
    app = runtime.app(title="Caisse notifier")
    app.state.runtime = runtime
    return app


def main() -> None:
    """The `notifier` console script: serve until SIGTERM."""
    settings = Settings()
    serve(build_app(settings), settings)
