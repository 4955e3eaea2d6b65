"""paheko-bridge's composition root: the only reader of Settings."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import SecretStr

import paheko_bridge
from caisse_contracts.ids import new_id
from caisse_runtime.database import migrations_beside
from caisse_runtime.service import ServiceRuntime, plain_dsn, serve, utc_now
from paheko_bridge.adapters.config_view import SqlConfigView
from paheko_bridge.adapters.fec.journal import FecFileJournal
from paheko_bridge.adapters.sql import BridgePool
from paheko_bridge.adapters.targets import ConfiguredTargets, PosApiCredentials
from paheko_bridge.config import Settings
from paheko_bridge.domain.pushes import Backoff
from paheko_bridge.entrypoints import consumers
from paheko_bridge.entrypoints.forwarder import Forwarder
from paheko_bridge.entrypoints.http.routes import ops
from paheko_bridge.service_layer.services import BridgeServices

SERVICE = "paheko-bridge"


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings, versions_dir=migrations_beside(paheko_bridge.__file__), has_outbox=True)
    runtime.instrument()

    pool = BridgePool(plain_dsn(settings.database_url.get_secret_value()), size=settings.database_pool_size)

    view = SqlConfigView(pool)
    targets = ConfiguredTargets(
        view,
        PosApiCredentials(settings.pos_api_url, settings.pos_api_token or SecretStr("")),
        breaker_threshold=settings.breaker_threshold,
        breaker_ttl_s=settings.breaker_ttl_s,
    )
    services = BridgeServices(
        uow=pool.work,
        targets=targets,
        fec=FecFileJournal(pool, settings.fec_directory),
        clock=utc_now,
        new_id=new_id,
        backoff=Backoff(max_s=settings.retry_max_s),
    )
    forwarder = Forwarder(services)
    consumers.subscribe(
        runtime.require_broker(),
        services,
        view,
        wake=forwarder.wake,
        group_suffix=settings.consumer_group_suffix,
        max_records=settings.consumer_batch_size,
    )
    app = runtime.app(
        title="Caisse paheko-bridge",
        routers=[ops.router],
        on_start=[pool.start, forwarder.start],
        on_stop=[forwarder.stop, targets.aclose, pool.stop],
    )
    app.state.runtime = runtime
    app.state.services = services
    app.state.ops_token = settings.ops_token.get_secret_value() if settings.ops_token else None
    app.state.wake = forwarder.wake
    return app


def main() -> None:
    """The `paheko-bridge` console script: serve until SIGTERM."""
    settings = Settings()
    serve(build_app(settings), settings)
