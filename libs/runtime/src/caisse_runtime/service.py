"""The shape every central service runs in: one process serving HTTP, consuming Kafka and relaying its outbox.

`ServiceRuntime` is built by a service's composition root (`bootstrap.py`) from its settings. Its
FastAPI lifespan applies migrations, starts the relay, the service's own hooks, then the broker (its consumers),
and on SIGTERM (uvicorn's graceful shutdown) stops them in the reverse order, so that no message is acknowledged
without its work.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

import uvicorn
from fastapi import APIRouter, FastAPI
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from starlette.types import ASGIApp, Receive, Scope, Send

from caisse_runtime.http import (
    ReadinessCheck,
    install_dependency_down_handler,
    install_health_routes,
    install_problem_handlers,
)
from caisse_runtime.settings import ServiceSettings, TraceExporter
from caisse_runtime.telemetry import build_tracer_provider, context_from

if TYPE_CHECKING:  # the database and Kafka stacks load only in services that use them (not on the till)
    from aiokafka import AIOKafkaProducer
    from faststream.kafka import KafkaBroker
    from sqlalchemy.ext.asyncio import AsyncEngine

    from caisse_runtime.outbox import OutboxRelay
    from caisse_runtime.pg import HotPool

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]


def utc_now() -> datetime:
    """The real clock: aware UTC."""
    return datetime.now(UTC)


def plain_dsn(sqlalchemy_url: str) -> str:
    """`postgresql+asyncpg://…` → `postgresql://…`, for asyncpg's own LISTEN connection."""
    scheme, _, rest = sqlalchemy_url.partition("://")
    return f"{scheme.split('+')[0]}://{rest}"


class ServiceRuntime:
    """Engine, broker, relay and tracing of one service, with their start and stop order."""

    def __init__(
        self,
        service: str,
        settings: ServiceSettings,
        *,
        versions_dir: Path | None,
        uses_kafka: bool = True,
        has_outbox: bool = False,
    ) -> None:
        self.service = service
        self.settings = settings
        self.tracer_provider: TracerProvider = build_tracer_provider(
            service, settings.trace_exporter, settings.trace_file, settings.otlp_endpoint
        )
        self._versions_dir = versions_dir
        self.engine: AsyncEngine | None = None
        self.broker: KafkaBroker | None = None
        if versions_dir is not None:
            from caisse_runtime.database import create_engine  # noqa: PLC0415

            self.engine = create_engine(settings.database_url.get_secret_value(), settings.database_pool_size)
        if uses_kafka:
            from caisse_runtime.kafka import build_broker  # noqa: PLC0415

            exporting = settings.trace_exporter is not TraceExporter.NONE
            self.broker = build_broker(
                settings.kafka_bootstrap, service=service, tracer_provider=self.tracer_provider if exporting else None
            )
        self._has_outbox = has_outbox
        self._producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.relay_held: Callable[[], bool] = lambda: False
        """While it answers True the outbox relay waits (30 s at most): the notifier holds it while tills flood in."""
        self._relay_pool: HotPool | None = None
        self._relay_stop = asyncio.Event()
        self._relay_task: asyncio.Task[None] | None = None
        self.readiness: dict[str, ReadinessCheck] = {}
        if self.engine is not None:
            from caisse_runtime.database import database_answers  # noqa: PLC0415

            engine = self.engine
            self.readiness["database"] = lambda: database_answers(engine)
        if self.broker is not None:
            broker = self.broker
            self.readiness["kafka"] = lambda: broker.ping(timeout=2.0)

    def instrument(self) -> None:
        """Tracing for this process: the global provider, and database spans when something exports them."""
        recording = self.settings.trace_exporter is not TraceExporter.NONE
        instrument_process(self.tracer_provider, database=self.engine is not None and recording)

    def require_engine(self) -> AsyncEngine:
        if self.engine is None:
            raise RuntimeError(f"{self.service} has no database")
        return self.engine

    def require_broker(self) -> KafkaBroker:
        if self.broker is None:
            raise RuntimeError(f"{self.service} has no broker")
        return self.broker

    async def start(self) -> None:
        if self.engine is not None and self._versions_dir is not None:
            from caisse_runtime.database import migrate  # noqa: PLC0415

            await migrate(self.engine, self._versions_dir)
        if self._has_outbox and self.settings.run_relay and self.engine is not None:
            from aiokafka import AIOKafkaProducer  # noqa: PLC0415

            from caisse_runtime.outbox import OutboxRelay  # noqa: PLC0415
            from caisse_runtime.pg import HotPool  # noqa: PLC0415

            self._producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap,
                client_id=f"{self.service}-relay",
                enable_idempotence=True,
                acks="all",
                linger_ms=2,
            )
            await self._producer.start()
            self._relay_pool = HotPool(plain_dsn(self.settings.database_url.get_secret_value()), size=1, what="relay")
            await self._relay_pool.start()
            self.relay = OutboxRelay(
                self._relay_pool.opened(),
                self._producer,
                service=self.service,
                batch_size=self.settings.relay_batch_size,
                idle_wait_s=self.settings.relay_idle_wait_s,
                listen_dsn=plain_dsn(self.settings.database_url.get_secret_value()),
                held=self.relay_held,
            )
            self._relay_stop.clear()
            self._relay_task = asyncio.create_task(self.relay.run(self._relay_stop), name=f"{self.service}-relay")

    async def stop(self) -> None:
        if self._relay_task is not None:
            self._relay_stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._relay_task, timeout=10)
            self._relay_task = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._relay_pool is not None:
            await self._relay_pool.stop()
            self._relay_pool = None
        if self.engine is not None:
            await self.engine.dispose()
        self.tracer_provider.shutdown()

    def app(
        self,
        *,
        title: str,
        routers: Sequence[APIRouter] = (),
        on_start: Sequence[Hook] = (),
        on_stop: Sequence[Hook] = (),
    ) -> FastAPI:
        """The FastAPI application of the service, owning the runtime's lifecycle."""

        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            for hook in on_start:
                await hook()
            # The consumers start once what they write through is open, and stop before it closes.
            if self.broker is not None:
                await self.broker.start()
            settle_heap()
            log.info("%s started", self.service)
            try:
                yield
            finally:
                if self.broker is not None:
                    await self.broker.stop()
                for hook in on_stop:
                    await hook()
                await self.stop()
                log.info("%s stopped", self.service)

        exporting = self.settings.trace_exporter is not TraceExporter.NONE
        # FastAPI's own telemetry would build spans, metrics and log records per request even when nothing
        # exports them; the OpenTelemetry instrumentation below does the tracing when something does.
        application = FastAPI(
            title=title, lifespan=lifespan, telemetry={"tracing": False, "metrics": False, "logs": False}
        )
        install_problem_handlers(application)
        if self.engine is not None:
            from caisse_runtime.database import DATABASE_ERRORS, database_down  # noqa: PLC0415

            install_dependency_down_handler(application, DATABASE_ERRORS, database_down, dependency="database")
        install_health_routes(application, self.readiness)
        for router in routers:
            application.include_router(router)
        if exporting:
            # loaded only when something exports spans: a till that traces nothing does not hold it (issue 17)
            from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor  # noqa: PLC0415

            FastAPIInstrumentor.instrument_app(application, tracer_provider=self.tracer_provider)
        else:
            application.add_middleware(TraceContextMiddleware)
        return application


class TraceContextMiddleware:
    """Without an exporter, no server span is built (nobody would see it), but the caller's W3C trace context
    still becomes the current one: the events a request writes carry the till's trace onward."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            if (parent := headers.get(b"traceparent")) is not None:
                state = headers.get(b"tracestate")
                token = otel_context.attach(
                    context_from(parent.decode("latin-1"), state.decode("latin-1") if state else None)
                )
                try:
                    await self.app(scope, receive, send)
                finally:
                    otel_context.detach(token)
                return
        await self.app(scope, receive, send)


def instrument_process(provider: TracerProvider, *, database: bool = True) -> None:
    """Process-wide instrumentation (asyncpg) and the global tracer provider, once per process."""
    trace.set_tracer_provider(provider)
    if not database:
        return
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor  # noqa: PLC0415

    instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)


def settle_heap() -> None:
    """Keep what the service built at its start out of the cyclic garbage collector's rounds.

    Modules, schemas, routes, pools and consumers live as long as the process, yet every full collection
    walks them all again: at hundreds of thousands of objects, that walk cost more CPU than the work of the
    events whose allocations triggered it. Frozen, they are never collected (they are never garbage), and a
    full collection walks only what came after (Python's `gc.freeze`, meant for this).
    """
    gc.collect()
    gc.freeze()


WORKER_HEALTHCHECK_S: Final = 60


class _Server(uvicorn.Server):
    """Uvicorn, but a SIGTERM that ended in a clean shutdown exits 0 instead of being re-raised."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.handle_exit)
        yield


@dataclass(frozen=True, slots=True)
class WebSockets:
    """How a service that holds WebSocket connections serves them."""

    ping_s: float
    """Each side is pinged this often and must answer within as long: a half-open connection ends within twice it."""
    max_message_bytes: int = 1 << 20
    backlog: int = 4096
    """Connections waiting to be accepted: a fleet of tills reconnecting at once after a restart."""


def serve(app: ASGIApp | str, settings: ServiceSettings, *, websockets: WebSockets | None = None) -> None:
    """Run the app until SIGTERM or SIGINT; uvicorn drains requests and runs the lifespan's shutdown.

    `app` is the application (FastAPI's, or an ASGI application in front of it), or the import path of its factory (`package.bootstrap:build_app`), which
    `workers > 1` needs: each worker process builds its own application. `websockets`: the service serves
    WebSocket connections (on `websockets`' sans-I/O protocol, whose pings are timers rather than tasks).
    """
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if isinstance(app, str) and settings.workers > 1:
        uvicorn.run(
            app,
            factory=True,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            timeout_graceful_shutdown=15,
            # The supervisor restarts a worker that does not answer its ping within this time; its default (5 s)
            # killed workers still importing the application on a busy two-core machine, over and over.
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
            access_log=False,
            proxy_headers=False,
            server_header=False,
        )
        return
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        lifespan="on",
        timeout_graceful_shutdown=15,
        access_log=False,
        # Nothing reads the client's address, and the name of the server is nobody's business.
        proxy_headers=False,
        server_header=False,
        factory=isinstance(app, str),
        **(
            {
                "ws": "websockets-sansio",
                "ws_ping_interval": websockets.ping_s,
                "ws_ping_timeout": websockets.ping_s,
                "ws_max_size": websockets.max_message_bytes,
                "backlog": websockets.backlog,
            }
            if websockets is not None
            else {"ws": "none"}
        ),
    )
    if websockets is not None:
        logging.getLogger("uvicorn.error").addFilter(_quiet_connections)
    _Server(config).run()


def _quiet_connections(record: logging.LogRecord) -> bool:
    """Uvicorn says every WebSocket's opening and closing at INFO: thousands of tills reconnecting would fill the log
    (and spend a core on it). They stay at DEBUG; failures still show."""
    if record.levelno > logging.INFO:
        return True
    message = record.getMessage()
    return not (message in {"connection open", "connection closed"} or '"WebSocket ' in message)
