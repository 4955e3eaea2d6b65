"""pos-api's composition root: the only reader of Settings; builds the runtime, adapters and the app."""

from __future__ import annotations

from fastapi import FastAPI

import pos_api
from caisse_contracts.ids import new_id
from caisse_runtime.database import migrations_beside
from caisse_runtime.service import ServiceRuntime, plain_dsn, serve, utc_now
from pos_api.adapters.config_listener import ConfigGenerationListener
from pos_api.adapters.secret_box import FernetSecretBox
from pos_api.adapters.sql import SqlPool
from pos_api.adapters.stream_tokens import Ed25519StreamTokenSigner
from pos_api.config import Settings
from pos_api.entrypoints import consumers
from pos_api.entrypoints.http import problems
from pos_api.entrypoints.http.routes import (
    backoffice,
    baskets,
    internal,
    operators,
    ops,
    session_reports,
    session_sync,
    sessions,
    stock,
    sync,
    tickets,
    till,
)
from pos_api.entrypoints.http.session_proxy import SessionServiceProxy, session_service_client
from pos_api.service_layer.config import digest, ensure_bootstrap_admin
from pos_api.service_layer.services import Services

SERVICE = "pos-api"


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings, versions_dir=migrations_beside(pos_api.__file__), has_outbox=True)
    runtime.instrument()
    pool = SqlPool(plain_dsn(settings.database_url.get_secret_value()), size=settings.till_pool_size)
    # One per process: the use cases keep per-process memory in it (the till cache, each till's last sale).
    services = Services(
        uow=pool.work,
        till_steps_uow=pool.steps,
        clock=utc_now,
        new_id=new_id,
        stream_tokens=stream_token_signer(settings),
    )
    consumers.register(runtime.require_broker(), uow=services.uow, group_suffix=settings.consumer_group_suffix)
    listener = ConfigGenerationListener(plain_dsn(settings.database_url.get_secret_value()), services.cache)
    session_service_token = settings.session_service_token

    async def connect_session_service() -> None:
        # made as the application starts (`app` is built by then), closed as it stops
        app.state.session_service = SessionServiceProxy(
            session_service_client(settings.session_service_url),
            session_service_token.get_secret_value() if session_service_token is not None else None,
        )

    async def disconnect_session_service() -> None:
        proxy: SessionServiceProxy = app.state.session_service
        await proxy.close()

    on_start = [pool.start, listener.start, connect_session_service]
    if settings.bootstrap_admin_token is not None:
        token = settings.bootstrap_admin_token.get_secret_value()

        async def bootstrap_admin() -> None:
            await ensure_bootstrap_admin(token, services)

        on_start.append(bootstrap_admin)
    app = runtime.app(
        title="Caisse pos-api",
        # The till's routes first: every sale is matched against them before the back office's many routes.
        routers=[
            baskets.router,
            till.router,
            tickets.router,
            sync.router,
            sessions.router,
            session_sync.router,
            backoffice.router,
            session_reports.router,
            operators.router,
            ops.router,
            stock.router,
            internal.router,
        ],
        on_start=on_start,
        on_stop=[disconnect_session_service, listener.stop, pool.stop],
    )
    problems.install(app)
    app.state.runtime = runtime
    app.state.services = services
    app.state.sync_batch_max = settings.sync_batch_max
    app.state.secret_box = FernetSecretBox(settings.secrets_key.get_secret_value())
    app.state.bridge_token_sha256 = digest(settings.bridge_token.get_secret_value()) if settings.bridge_token else None
    return app


def stream_token_signer(settings: Settings) -> Ed25519StreamTokenSigner | None:
    """The signer of the tills' stream tokens, if a key is configured; a key that does not load stops the start."""
    if settings.stream_signing_key is None:
        if settings.stream_retired_keys is not None:
            raise ValueError("POS_API_STREAM_RETIRED_KEYS needs POS_API_STREAM_SIGNING_KEY: retired keys never sign")
        return None
    return Ed25519StreamTokenSigner(
        settings.stream_signing_key.get_secret_value(),
        ttl_s=settings.stream_token_ttl_s,
        retired_keys_pem=settings.stream_retired_keys,
    )


def main() -> None:
    """The `pos-api` console script: serve until SIGTERM."""
    settings = Settings()
    serve("pos_api.bootstrap:build_app" if settings.workers > 1 else build_app(settings), settings)
