"""Test support for the config stream: a signing key with its JWKS served on 127.0.0.1 (as pos-api serves its own),
config changes published straight to `caisse.config.v1`, and a simulated till that keeps what it is sent."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonpatch
import jwt
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.asyncio.client import ClientConnection, connect

from caisse_contracts.envelope import Envelope, TenantKeys
from caisse_contracts.events import ConfigChangedV1, EntityType, PatchOperationV1
from caisse_contracts.stream import (
    STREAM_AUDIENCE,
    STREAM_ISSUER,
    STREAM_PATH,
    TO_TILL,
    Ack,
    Change,
    EntityRef,
    Hello,
    Item,
    Removed,
    Reset,
    Resume,
    Scope,
    Snapshot,
    Synced,
)
from caisse_contracts.topics import CONFIG


class Keys:
    """An Ed25519 key whose JWKS a tiny HTTP server on 127.0.0.1 serves at /v1/stream-keys."""

    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.private.public_key()))
        self.kid = "test-" + uuid.uuid4().hex[:8]
        self.jwks = {"keys": [{**jwk, "kid": self.kid, "alg": "EdDSA", "use": "sig"}]}
        keys = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(keys.jwks).encode()
                self.send_response(200 if self.path == "/v1/stream-keys" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def token(
        self,
        scope: Scope,
        *,
        ttl_s: int = 600,
        key: Ed25519PrivateKey | None = None,
        kid: str | None = None,
        audience: str = STREAM_AUDIENCE,
    ) -> str:
        now = int(time.time())
        claims = {
            "sub": f"pos:{scope.pos_id}",
            "pos": str(scope.pos_id),
            "shop": str(scope.shop_id),
            "company": str(scope.company_id),
            "territory": str(scope.territory_id),
            "iss": STREAM_ISSUER,
            "aud": audience,
            "iat": now,
            "exp": now + ttl_s,
        }
        return jwt.encode(claims, key or self.private, algorithm="EdDSA", headers={"kid": kid or self.kid})


def new_scope() -> Scope:
    return Scope(territory_id=uuid.uuid4(), company_id=uuid.uuid4(), shop_id=uuid.uuid4(), pos_id=uuid.uuid4())


@dataclass
class Config:
    """Publishes `config.changed` as pos-api's relay would: keyed by entity, versions one after another."""

    bootstrap: str
    versions: dict[uuid.UUID, int] = field(default_factory=dict)
    items: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)

    def change(
        self, entity_type: EntityType, entity_id: uuid.UUID, tenant: TenantKeys, *, deleted: bool = False, **fields: Any
    ) -> tuple[str, bytes, list[tuple[str, bytes]]]:
        previous = self.versions.get(entity_id)
        version = (previous or 0) + 1
        self.versions[entity_id] = version
        before = self.items.get(entity_id, {})
        item = {**before, "id": str(entity_id), "version": version, **fields}
        self.items[entity_id] = item
        patch = jsonpatch.make_patch(before, item).patch if previous else []
        payload = ConfigChangedV1(
            entity_type=entity_type,
            entity_id=entity_id,
            version=version,
            previous_version=previous,
            deleted=deleted,
            item=item,
            patch=tuple(PatchOperationV1.model_validate(op) for op in patch),
        )
        envelope = Envelope[ConfigChangedV1].wrap(
            payload, event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), source="pos-api", tenant=tenant
        )
        headers = [(k, v.encode()) for k, v in envelope.kafka_headers().items()]
        return payload.key, envelope.model_dump_json().encode(), headers

    async def publish(self, *changes: tuple[str, bytes, list[tuple[str, bytes]]]) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, enable_idempotence=True, acks="all")
        await producer.start()
        try:
            sent = [await producer.send(CONFIG.name, value, key=key.encode(), headers=h) for key, value, h in changes]
            await asyncio.gather(*sent)
        finally:
            await producer.stop()


def tenant(scope: Scope, level: str) -> TenantKeys:
    """The tenant keys of an item placed at `level` of `scope`: territory, company, shop or pos."""
    keys = ["territory", "company", "shop", "pos"]
    named = keys[: keys.index(level) + 1]
    return TenantKeys(**{f"{k}_id": getattr(scope, f"{k}_id") for k in named})


@dataclass
class SimTill:
    """A till as the stream expects one: keeps items and versions, stores the position, acknowledges it."""

    url: str
    token: str
    items: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    versions: dict[uuid.UUID, int] = field(default_factory=dict)
    position: int | None = None
    received: list[Any] = field(default_factory=list)
    hello: Hello | None = None
    synced: int = 0
    _reset: set[uuid.UUID] | None = None

    async def connect(self) -> ClientConnection:
        ws = await connect(
            self.url + STREAM_PATH, additional_headers={"Authorization": f"Bearer {self.token}"}, open_timeout=10
        )
        hello = TO_TILL.validate_json(await ws.recv())
        assert isinstance(hello, Hello), hello
        self.hello = hello
        await ws.send(Resume(position=self.position).model_dump_json())
        return ws

    async def apply(self, ws: ClientConnection, message: Any) -> None:
        self.received.append(message)
        if isinstance(message, Reset):
            self._reset = set()
        elif isinstance(message, Item):
            self.items[message.entity_id], self.versions[message.entity_id] = message.item, message.version
            if self._reset is not None:
                self._reset.add(message.entity_id)
        elif isinstance(message, Change):
            if self.versions.get(message.entity_id) == message.from_version:
                ops = [op.model_dump() for op in message.patch]
                self.items[message.entity_id] = jsonpatch.apply_patch(self.items[message.entity_id], ops)
                self.versions[message.entity_id] = message.version
            else:
                ref = EntityRef(entity_type=message.entity_type, entity_id=message.entity_id)
                await ws.send(Snapshot(entities=(ref,)).model_dump_json())
        elif isinstance(message, Removed):
            self.items.pop(message.entity_id, None)
            self.versions.pop(message.entity_id, None)
        elif isinstance(message, Synced):
            self.synced += 1
            if self._reset is not None:
                for gone in set(self.items) - self._reset:
                    self.items.pop(gone)
                    self.versions.pop(gone)
                self._reset = None
        position = getattr(message, "position", None)
        if position is not None and self._reset is None:
            self.position = max(self.position or -1, position)
            await ws.send(Ack(position=self.position).model_dump_json())

    async def until(self, ws: ClientConnection, done: Any, timeout_s: float = 10.0) -> None:
        """Apply messages until `done(self)` holds."""
        async with asyncio.timeout(timeout_s):
            while not done(self):
                await self.apply(ws, TO_TILL.validate_json(await ws.recv()))
