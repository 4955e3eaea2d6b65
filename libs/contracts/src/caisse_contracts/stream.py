"""The till's config stream: what the notifier and a till (its hw-proxy) say to each other over one WebSocket.

A till connects to `STREAM_PATH` with `Authorization: Bearer <stream token>` (pos-api hands the token out with the
till's POS data and on `POST /v1/till/stream-token`; see `StreamClaims`). The notifier answers `Hello` or closes with
a `CloseCode` and a reason. The till then sends `Resume` with the last position it stored (None: it has nothing);
the notifier sends what the till misses, in position order, then `Synced`, then every live change in the till's
scope as it comes:

- `Change`: the RFC 6902 patch of one entity from `from_version` to `version`; a till holding `from_version` applies
  it, any other asks for the item (`Snapshot`);
- `Item`: the whole item at `version` (a first sight, an answer to `Snapshot`, or the catch-up of a till whose
  position is older than the notifier's change log);
- `Removed`: the entity left the till's scope: deleted, or moved elsewhere (a POS moved to another shop);
- `Reset`: the till's scope is sent whole (first connection, a position older than the log keeps, or its own POS
  moved): the `Item`s up to the `Synced` that follows are all it should keep, and its position is the one `Synced`
  names, stored only then.

Positions are the offsets of `caisse.config.v1` (one partition): the same change has the same position on every
notifier replica, so a till may resume on any of them. The till acknowledges what it stored with `Ack`; the ops see
it, and how far behind it is, on the notifier's `GET /v1/tills`. Both sides ping at the WebSocket level; a connection
that does not answer is closed within `HALF_OPEN_S`.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Annotated, Any, Final, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, TypeAdapter

from caisse_contracts.events.config import EntityType, PatchOperationV1

STREAM_PATH: Final = "/v1/stream"
STREAM_KEYS_PATH: Final = "/v1/stream-keys"
"""pos-api's route that publishes the public keys of its stream tokens (`StreamKeySet`)."""
STREAM_AUDIENCE: Final = "caisse-notifier"
STREAM_ISSUER: Final = "caisse-pos-api"
STREAM_TOKEN_MAX_S: Final = 15 * 60
"""A stream token lives at most this long; the till refreshes it over the socket before it ends."""
HALF_OPEN_S: Final = 30
"""A connection whose peer stopped answering is closed within this time, by either side."""

Position = Annotated[StrictInt, Field(ge=0)]


class CloseCode(IntEnum):
    """WebSocket close codes of the stream (4000–4999 are the application's)."""

    GOING_AWAY = 1001
    """The notifier is not ready yet (it is still reading the configuration): reconnect and resume, here or on another
    replica."""
    SERVICE_RESTART = 1012
    """The notifier stops (a deploy, a restart): reconnect and resume, on this replica or another."""
    PROTOCOL = 4400
    """A message the notifier does not understand: the reason names it."""
    TOKEN_REFUSED = 4401
    """No token, a forged one, one signed by an unknown key, or one expired (also on a live connection whose token
    ran out without a refresh): get a new token from pos-api, then reconnect."""
    FORBIDDEN = 4403
    """A refreshed token of another POS than the connection's."""
    TOO_SLOW = 4429
    """The till did not read its messages fast enough; the notifier dropped it rather than slow the others down.
    Reconnect and resume from the last position stored."""


class StreamClaims(BaseModel):
    """The claims of a till's stream token (an EdDSA JWT signed by pos-api, verified with its JWKS)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sub: str = Field(description="`pos:<pos id>`")
    pos: UUID
    shop: UUID
    company: UUID
    territory: UUID
    iss: Literal["caisse-pos-api"] = STREAM_ISSUER
    aud: Literal["caisse-notifier"] = STREAM_AUDIENCE
    iat: StrictInt
    exp: StrictInt


class StreamToken(BaseModel):
    """A stream token as pos-api hands it to a till."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: str
    expires_at: AwareDatetime
    stream_path: str = STREAM_PATH


class StreamKey(BaseModel):
    """One public key that verifies stream tokens: a JWK (RFC 7517) of an Ed25519 key (RFC 8037)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kty: Literal["OKP"] = "OKP"
    crv: Literal["Ed25519"] = "Ed25519"
    x: str = Field(min_length=43, max_length=43, description="The public key, base64url without padding.")
    kid: str = Field(
        min_length=43,
        max_length=43,
        description="The key's RFC 7638 thumbprint (base64url SHA-256): a token's `kid` header names its key.",
    )
    alg: Literal["EdDSA"] = "EdDSA"
    use: Literal["sig"] = "sig"


class StreamKeySet(BaseModel):
    """pos-api's `GET /v1/stream-keys`, a JWKS: the key that signs stream tokens now, then the retired ones still
    accepted during a rotation. Empty when pos-api hands out no stream token. The notifier fetches it once and
    keeps it (again on a `kid` it does not know), and never calls pos-api for a connection."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: tuple[StreamKey, ...] = Field(default=(), max_length=16)


class Scope(BaseModel):
    """Where a till sits: the changes it receives are those of its territory, company, shop and POS."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    territory_id: UUID
    company_id: UUID
    shop_id: UUID
    pos_id: UUID


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# The notifier → the till


class Hello(_Message):
    type: Literal["hello"] = "hello"
    notifier: str = Field(description="The replica that serves the connection.")
    scope: Scope
    position: Position | None = Field(description="The newest position the notifier holds (None: nothing yet).")
    token_expires_at: datetime


class Change(_Message):
    type: Literal["change"] = "change"
    position: Position
    entity_type: EntityType
    entity_id: UUID
    from_version: StrictInt | None
    version: StrictInt
    patch: tuple[PatchOperationV1, ...]


class Item(_Message):
    type: Literal["item"] = "item"
    position: Position | None = Field(
        description="None inside a `Reset` (the position comes with its `Synced`) and when it answers a `Snapshot` (an "
        "answer moves no position: it may come from further in the log than the stream has reached)."
    )
    entity_type: EntityType
    entity_id: UUID
    version: StrictInt
    item: dict[str, Any]


class Removed(_Message):
    type: Literal["removed"] = "removed"
    position: Position | None = Field(description="None when it answers a `Snapshot`: an answer moves no position.")
    entity_type: EntityType
    entity_id: UUID
    version: StrictInt
    reason: Literal["deleted", "moved"]


class Reset(_Message):
    type: Literal["reset"] = "reset"
    scope: Scope
    reason: Literal["first", "too_old", "unknown_position", "moved"]


class Synced(_Message):
    type: Literal["synced"] = "synced"
    position: Position | None


class TokenExpiring(_Message):
    type: Literal["token_expiring"] = "token_expiring"
    expires_at: datetime


class Refreshed(_Message):
    type: Literal["refreshed"] = "refreshed"
    expires_at: datetime


# The till → the notifier


class Resume(_Message):
    type: Literal["resume"] = "resume"
    position: Position | None = None


class Ack(_Message):
    type: Literal["ack"] = "ack"
    position: Position


class EntityRef(_Message):
    entity_type: EntityType
    entity_id: UUID


class Snapshot(_Message):
    type: Literal["snapshot"] = "snapshot"
    entities: tuple[EntityRef, ...] = Field(min_length=1, max_length=1000)


class Refresh(_Message):
    type: Literal["refresh"] = "refresh"
    token: str = Field(min_length=1, max_length=4096)


TO_TILL_MESSAGES: Final = (Hello, Change, Item, Removed, Reset, Synced, TokenExpiring, Refreshed)
FROM_TILL_MESSAGES: Final = (Resume, Ack, Snapshot, Refresh)
ToTill = Annotated[
    Hello | Change | Item | Removed | Reset | Synced | TokenExpiring | Refreshed, Field(discriminator="type")
]
FromTill = Annotated[Resume | Ack | Snapshot | Refresh, Field(discriminator="type")]
TO_TILL: Final[TypeAdapter[ToTill]] = TypeAdapter(ToTill)
FROM_TILL: Final[TypeAdapter[FromTill]] = TypeAdapter(FromTill)
