"""hw-proxy's composition root: the only reader of Settings."""

from __future__ import annotations

import logging

import httpx
from fastapi import FastAPI

from caisse_runtime.service import Hook, ServiceRuntime, serve, utc_now
from hw_proxy.adapters.pos_api import PosApiStreamTokens
from hw_proxy.adapters.store import FaultInjection, LocalStore
from hw_proxy.config import Settings
from hw_proxy.entrypoints.config_subscriber import ConfigSubscriber, StreamStatus
from hw_proxy.entrypoints.http import config_routes

SERVICE = "hw-proxy"

log = logging.getLogger(__name__)


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings, versions_dir=None, uses_kafka=False)
    runtime.instrument()
    store = LocalStore(settings.store_path, faults=FaultInjection(settings.fault_kill_after_messages))
    runtime.readiness["local_store"] = store.answers
    on_start: list[Hook] = [store.open]
    on_stop: list[Hook] = []
    subscriber: ConfigSubscriber | None = None
    status = StreamStatus()
    if settings.device_serial and settings.device_secret is not None:
        client = httpx.AsyncClient(base_url=settings.pos_api_url, timeout=settings.pos_api_timeout_s)
        tokens = PosApiStreamTokens(client, serial=settings.device_serial, secret=settings.device_secret)
        subscriber = ConfigSubscriber(
            store=store,
            tokens=tokens,
            notifier_url=settings.notifier_url,
            clock=utc_now,
            reconnect_first_s=settings.reconnect_first_s,
            reconnect_max_s=settings.reconnect_max_s,
            ack_interval_s=settings.ack_interval_s,
        )
        status = subscriber.status
        on_start.append(subscriber.start)
        on_stop.extend([subscriber.stop, client.aclose])
    else:
        log.warning("no device serial and secret: the config stream is off, the cache stays as it is")
    on_stop.append(store.close)
    app = runtime.app(
        title="Caisse hw-proxy",
        routers=[config_routes(store, status, clock=utc_now, stale_after_s=settings.stale_after_s)],
        on_start=on_start,
        on_stop=on_stop,
    )
    app.state.runtime = runtime
    app.state.store = store
    app.state.subscriber = subscriber
    return app


def main() -> None:
    """The `hw-proxy` console script: serve until SIGTERM."""
    settings = Settings()
    serve(build_app(settings), settings)
