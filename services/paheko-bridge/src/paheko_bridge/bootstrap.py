"""paheko-bridge's composition root: the only reader of Settings."""

from __future__ import annotations

from fastapi import FastAPI

import paheko_bridge
from caisse_contracts.runtime.database import migrations_beside
from caisse_contracts.runtime.service import ServiceRuntime, serve
from paheko_bridge.config import Settings

SERVICE = "paheko-bridge"


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings, versions_dir=migrations_beside(paheko_bridge.__file__), has_outbox=True)
    runtime.instrument()
    app = runtime.app(title="Caisse paheko-bridge")
    app.state.runtime = runtime
    return app


def main() -> None:
    """The `paheko-bridge` console script: serve until SIGTERM."""
    settings = Settings()
    serve(build_app(settings), settings)
