"""hw-proxy's composition root: the only reader of Settings."""

from __future__ import annotations

import logging
import uuid

import httpx
from fastapi import FastAPI

from caisse_runtime.service import Hook, ServiceRuntime, serve, utc_now
from hw_proxy.adapters.card_terminal import CaisseApTerminal
from hw_proxy.adapters.escpos_printer import EscposPrinter, EscposRenderer
from hw_proxy.adapters.heap import malloc_trim
from hw_proxy.adapters.pos_api import PosApiCentral, PosApiStreamTokens
from hw_proxy.adapters.secret_file import SecretFile
from hw_proxy.adapters.store import FaultInjection, TillRecords
from hw_proxy.config import Settings
from hw_proxy.domain.enrolment import DeviceCredentials, DeviceIdentity
from hw_proxy.entrypoints.card_routes import card_routes
from hw_proxy.entrypoints.config_subscriber import ConfigSubscriber
from hw_proxy.entrypoints.http import config_routes
from hw_proxy.entrypoints.idle_memory import Activity, IdleTrim
from hw_proxy.entrypoints.outbox_sender import OutboxSender
from hw_proxy.entrypoints.printer_worker import PrinterWorker
from hw_proxy.entrypoints.problems import install_problems
from hw_proxy.entrypoints.sale_forwarder import SaleForwarder
from hw_proxy.entrypoints.till_routes import till_routes
from hw_proxy.entrypoints.till_watch import TillWatch
from hw_proxy.service_layer.enrolment import load_enrolment
from hw_proxy.service_layer.ports import CardTerminal, CentralApi, ReceiptPrinter
from hw_proxy.service_layer.till_state import TillState

SERVICE = "hw-proxy"

log = logging.getLogger(__name__)


def build_app(
    settings: Settings | None = None,
    *,
    central: CentralApi | None = None,
    printer: ReceiptPrinter | None = None,
    terminal: CardTerminal | None = None,
) -> FastAPI:
    """The till agent's app; `central` replaces pos-api, `printer` the receipt printer, `terminal` the card terminal
    (unit tests give fakes)."""
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings, versions_dir=None, uses_kafka=False)
    runtime.instrument()
    faults = FaultInjection(
        settings.fault_kill_after_messages,
        settings.fault_kill_after_sales,
        kill_after_committed_sales=settings.fault_kill_after_committed_sales,
        kill_after_answers=settings.fault_kill_after_answers,
        kill_after_credit_notes=settings.fault_kill_after_credit_notes,
        kill_after_committed_credit_notes=settings.fault_kill_after_committed_credit_notes,
        kill_after_card_answers=settings.fault_kill_after_card_answers,
    )
    store = TillRecords(settings.store_path, faults=faults)
    runtime.readiness["local_store"] = store.answers
    secrets = SecretFile(settings.secret_path or settings.store_path + ".secret")
    given = (
        DeviceCredentials(settings.device_serial, settings.device_secret)
        if settings.device_serial and settings.device_secret is not None
        else None
    )
    identity = DeviceIdentity()
    state = TillState(identity)
    client = httpx.AsyncClient(base_url=settings.pos_api_url, timeout=settings.pos_api_timeout_s)
    central = central or PosApiCentral(client, identity, forward_timeout_s=settings.forward_timeout_s)
    watch = TillWatch(
        store,
        central,
        state,
        clock=utc_now,
        recheck_s=settings.number_recheck_s,
        report_every_s=settings.report_every_s,
    )
    forwarding: set[str] = set()
    """The tickets being forwarded online: the sender leaves them to the forward."""
    sender = OutboxSender(
        store,
        central,
        clock=utc_now,
        batch_max=settings.sync_batch_max,
        retry_first_s=settings.send_retry_first_s,
        retry_max_s=settings.send_retry_max_s,
        aside_found=watch.nudge,
        in_flight=forwarding,
    )
    forwarder = SaleForwarder(
        store, central, clock=utc_now, queued=sender.nudge, aside_found=watch.nudge, in_flight=forwarding
    )
    printing = PrinterWorker(
        store,
        state,
        printer or EscposPrinter(timeout_s=settings.printer_timeout_s),
        EscposRenderer(),
        clock=utc_now,
        retry_first_s=settings.print_retry_first_s,
        retry_max_s=settings.print_retry_max_s,
        poll_s=settings.printer_poll_s,
    )
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

    async def boot_check() -> None:
        if identity.enrolled:
            await watch.start()
            await sender.start()
        else:
            watch.checked.set()

    idle = IdleTrim(malloc_trim(), quiet_s=settings.idle_trim_s)
    on_start: list[Hook] = [store.open, enrol, stream, boot_check, printing.start, idle.start]
    on_stop: list[Hook] = [
        idle.stop,
        watch.stop,
        printing.stop,
        forwarder.stop,
        sender.stop,
        subscriber.stop,
        client.aclose,
        store.close,
    ]
    app = runtime.app(
        title="Caisse hw-proxy",
        routers=[
            config_routes(store, subscriber.status, clock=utc_now, stale_after_s=settings.stale_after_s),
            till_routes(
                store,
                central,
                state,
                clock=utc_now,
                new_id=uuid.uuid4,
                queued=sender.nudge,
                forward=forwarder.forward,
                forward_credit_note=forwarder.forward_credit_note,
                to_print=printing.nudge,
                printer=printing.status,
            ),
            card_routes(
                store, terminal or CaisseApTerminal(quiet_s=settings.card_answer_quiet_s), state, clock=utc_now
            ),
        ],
        on_start=on_start,
        on_stop=on_stop,
    )
    install_problems(app)
    app.add_middleware(Activity, seen=idle.touch)
    app.state.idle_trim = idle
    app.state.runtime = runtime
    app.state.store = store
    app.state.subscriber = subscriber
    app.state.till = state
    app.state.boot_checked = watch.checked
    app.state.watch = watch
    app.state.sender = sender
    app.state.forwarder = forwarder
    app.state.printing = printing
    return app


def main() -> None:
    """The `hw-proxy` console script: serve until SIGTERM."""
    settings = Settings()
    serve(build_app(settings), settings)
