"""hw-proxy's composition root: the only reader of Settings."""

from __future__ import annotations

from fastapi import FastAPI

from caisse_runtime.service import ServiceRuntime, serve
from hw_proxy.adapters.store import LocalStore
from hw_proxy.config import Settings

SERVICE = "hw-proxy"


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings, versions_dir=None, uses_kafka=False)
    runtime.instrument()
    store = LocalStore(settings.store_path)
    runtime.readiness["local_store"] = store.answers
    app = runtime.app(title="Caisse hw-proxy", on_start=[store.open], on_stop=[store.close])
    app.state.runtime = runtime
    app.state.store = store
    return app


def main() -> None:
    """The `hw-proxy` console script: serve until SIGTERM."""
    settings = Settings()
    serve(build_app(settings), settings)
