"""notifier's composition root: the only reader of Settings."""

from __future__ import annotations

import logging
import os
import socket

from fastapi import FastAPI

import notifier
from caisse_contracts.ids import new_id
from caisse_runtime.database import migrations_beside
from caisse_runtime.service import ServiceRuntime, WebSockets, plain_dsn, serve, utc_now
from notifier.adapters.sql import NotifierDatabase
from notifier.adapters.tokens import JwksTokens
from notifier.config import Settings
from notifier.entrypoints import consumer
from notifier.entrypoints.http import tills
from notifier.entrypoints.http.stream import StreamFirst, StreamServices
from notifier.entrypoints.workers import Arrivals, HeapKeeper, PresenceWriter, TokenSweeper
from notifier.service_layer.hub import Hub
from notifier.service_layer.intake import Intake
from notifier.service_layer.presence import Presence
from notifier.service_layer.state import ConfigState
from notifier.service_layer.tokens import RememberedTokens

SERVICE = "notifier"
log = logging.getLogger(__name__)


class Rebuild:
    """The rebuild at start: the database's picture, then the topic read up to where it ended at start."""

    def __init__(self, state: ConfigState, intake: Intake, database: NotifierDatabase, bootstrap: str) -> None:
        self._state, self._intake, self._database, self._bootstrap = state, intake, database, bootstrap
        self.end: int | None = None
        self.problem: str | None = None

    async def start(self) -> None:
        saved = await self._database.load(self._state.keep)
        self._state.restore(saved.entities, saved.log, saved.horizon)
        log.info("%d entities and %d changes restored from the database", len(saved.entities), len(saved.log))
        try:
            self.end = await consumer.end_of_topic(self._bootstrap)
        except consumer.TopicShapeError as exc:
            self.problem = str(exc)
            log.error("%s", exc)

    def done(self) -> bool:
        return self.end is not None and self._intake.caught_up_to >= self.end

    async def answers(self) -> bool:
        return self.done()


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings, versions_dir=migrations_beside(notifier.__file__), has_outbox=True)
    runtime.instrument()
    name = settings.name or f"{socket.gethostname()}-{os.getpid()}"
    database = NotifierDatabase(
        plain_dsn(settings.database_url.get_secret_value()), size=settings.database_pool_size, what="notifier"
    )
    state = ConfigState(keep=settings.log_keep)
    hub = Hub(state)
    intake = Intake(state, hub, database)
    rebuild = Rebuild(state, intake, database, settings.kafka_bootstrap)
    tokens = JwksTokens(settings.pos_api_url)
    remembered = RememberedTokens(tokens, database)
    presence = Presence(
        database,
        state,
        notifier=name,
        clock=utc_now,
        new_id=new_id,
        ack_every_s=settings.presence_ack_every_s,
        ack_event_every_s=settings.presence_ack_event_every_s,
        seen_every_s=settings.presence_seen_every_s,
    )
    streams = StreamServices(
        state=state,
        hub=hub,
        tokens=remembered,
        presence=presence,
        notifier=name,
        ready=rebuild.done,
        max_queue=settings.max_queue,
    )
    consumer.subscribe(runtime.require_broker(), intake)
    arrivals = Arrivals(streams)
    runtime.relay_held = lambda: arrivals.flooding
    writer = PresenceWriter(presence, arrivals, every_s=settings.presence_flush_s)
    sweeper = TokenSweeper(streams, remembered, arrivals)
    heap = HeapKeeper(streams, arrivals)
    runtime.readiness["rebuild"] = rebuild.answers
    runtime.readiness["stream_keys"] = tokens.answers
    app = runtime.app(
        title="Caisse notifier",
        routers=[tills.router],
        on_start=[
            database.start,
            rebuild.start,
            remembered.load,
            tokens.fetch,
            writer.start,
            sweeper.start,
            heap.start,
        ],
        on_stop=[heap.stop, sweeper.stop, writer.stop, database.stop],
    )
    app.state.runtime = runtime
    app.state.stream = streams
    app.state.ops_token = settings.ops_token.get_secret_value() if settings.ops_token else None
    return app


def main() -> None:
    """The `notifier` console script: serve until SIGTERM."""
    settings = Settings()
    app = build_app(settings)
    serve(StreamFirst(app, app.state.stream), settings, websockets=WebSockets(ping_s=settings.ping_s))
