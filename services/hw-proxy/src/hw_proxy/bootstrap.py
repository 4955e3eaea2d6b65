"""hw-proxy's composition root: the only reader of Settings."""

from __future__ import annotations

import logging

import httpx
from fastapi import FastAPI

from caisse_runtime.service import Hook, ServiceRuntime, serve, utc_now
from hw_proxy.adapters.pos_api import PosApiStreamTokens
from hw_proxy.adapters.secret_file import SecretFile
from hw_proxy.adapters.store import FaultInjection, TillRecords
from hw_proxy.config import Settings
from hw_proxy.domain.enrolment import DeviceCredentials, DeviceIdentity
from hw_proxy.entrypoints.config_subscriber import ConfigSubscriber
from hw_proxy.entrypoints.http import config_routes
from hw_proxy.service_layer.enrolment import load_enrolment

SERVICE = "hw-proxy"

log = logging.getLogger(__name__)


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings, versions_dir=None, uses_kafka=False)
    runtime.instrument()
    store = TillRecords(settings.store_path, faults=FaultInjection(settings.fault_kill_after_messages))
    runtime.readiness["local_store"] = store.answers
    secrets = SecretFile(settings.secret_path or settings.store_path + ".secret")
    given = (
        DeviceCredentials(settings.device_serial, settings.device_secret)
        if settings.device_serial and settings.device_secret is not None
        else None
    )
    identity = DeviceIdentity()
    client = httpx.AsyncClient(base_url=settings.pos_api_url, timeout=settings.pos_api_timeout_s)
    subscriber = ConfigSubscriber(
        store=store,
        tokens=PosApiStreamTokens(client, identity),
        notifier_url=settings.notifier_url,
        clock=utc_now,
        reconnect_first_s=settings.reconnect_first_s,
        reconnect_max_s=settings.reconnect_max_s,
        ack_interval_s=settings.ack_interval_s,
    )

    async def enrol() -> None:
        identity.credentials = await load_enrolment(store, secrets, given=given, now=utc_now())

    async def stream() -> None:
        if identity.enrolled:
            await subscriber.start()
        else:
            log.warning("the till is not enrolled: the config stream is off, the cache stays as it is")

    on_start: list[Hook] = [store.open, enrol, stream]
    on_stop: list[Hook] = [subscriber.stop, client.aclose, store.close]
    app = runtime.app(
        title="Caisse hw-proxy",
        routers=[config_routes(store, subscriber.status, clock=utc_now, stale_after_s=settings.stale_after_s)],
        on_start=on_start,
        on_stop=on_stop,
    )
    app.state.runtime = runtime
    app.state.store = store
    app.state.subscriber = subscriber
    app.state.identity = identity
    return app


def main() -> None:
    """The `hw-proxy` console script: serve until SIGTERM."""
    settings = Settings()
    serve(build_app(settings), settings)
