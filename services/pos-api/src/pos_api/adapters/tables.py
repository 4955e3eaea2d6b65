"""pos-api's PostgreSQL tables (SQLAlchemy Core); the schema itself is created by the migrations."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, MetaData, Table, Text, UniqueConstraint, Uuid
from sqlalchemy.dialects.postgresql import JSON, JSONB

metadata = MetaData()

tickets = Table(
    "tickets",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("pos_id", Uuid, nullable=False),
    Column("number", Integer, nullable=False),
    Column("session_id", Uuid, nullable=False),
    Column("shop_id", Uuid, nullable=False),
    Column("kind", Text, nullable=False),
    Column("total_incl_tax", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("finalized_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("body", JSON, nullable=False),  # stored and read whole: plain json (migration 0010)
    Column("basket_id", Uuid),
    Column("source_hash", Text),
    UniqueConstraint("pos_id", "number", name="tickets_pos_number"),
)

config_items = Table(
    "config_items",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("entity_type", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("territory_id", Uuid),
    Column("company_id", Uuid),
    Column("shop_id", Uuid),
    Column("pos_id", Uuid),
    Column("item", JSONB, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("updated_by", Uuid),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

config_history = Table(
    "config_history",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("entity_type", Text, nullable=False),
    Column("item", JSONB, nullable=False),
    Column("patch", JSONB, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("changed_by", Uuid),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

device_credentials = Table(
    "device_credentials",
    metadata,
    Column("pos_id", Uuid, primary_key=True),
    Column("serial", Text, nullable=False, unique=True),
    Column("secret_sha256", Text, nullable=False),
    Column("rotated_at", DateTime(timezone=True), nullable=False),
)

operator_credentials = Table(
    "operator_credentials",
    metadata,
    Column("operator_id", Uuid, primary_key=True),
    Column("token_sha256", Text, unique=True),
    Column("pin_hash", Text),
    Column("failed_pins", Integer, nullable=False, server_default="0"),
    Column("locked_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

company_secrets = Table(
    "company_secrets",
    metadata,
    Column("company_id", Uuid, primary_key=True),
    Column("paheko_api_user", Text, nullable=False),
    Column("paheko_api_password_encrypted", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

pos_sessions = Table(
    "pos_sessions",
    metadata,
    Column("pos_id", Uuid, primary_key=True),
    Column("session_id", Uuid, nullable=False),
    Column("status", Text, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("last_ticket_number", Integer),
)

baskets = Table(
    "baskets",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("pos_id", Uuid, nullable=False),
    Column("version", Integer, nullable=False),
    Column("content", JSON, nullable=False),
    Column("status", Text, nullable=False),
    Column("ticket_id", Uuid),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

event_seats = Table(
    "event_seats",
    metadata,
    Column("product_id", Uuid, primary_key=True),
    Column("capacity", Integer, nullable=False),
    Column("sold", Integer, nullable=False),
)

ticket_gaps = Table(
    "ticket_gaps",
    metadata,
    Column("pos_id", Uuid, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("filled_at", DateTime(timezone=True)),
)

ticket_conflicts = Table(
    "ticket_conflicts",
    metadata,
    Column("pos_id", Uuid, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("attempt_sha256", Text, primary_key=True),
    Column("existing_ticket_id", Uuid, nullable=False),
    Column("attempted_ticket_id", Uuid, nullable=False),
    Column("source", Text, nullable=False),
    Column("attempt", JSON, nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False),
)
