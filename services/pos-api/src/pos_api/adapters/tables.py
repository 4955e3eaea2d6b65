"""pos-api's PostgreSQL tables (SQLAlchemy Core); the schema itself is created by the migrations."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, Table, Text, UniqueConstraint, Uuid
from sqlalchemy.dialects.postgresql import JSONB

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
    Column("body", JSONB, nullable=False),
    UniqueConstraint("pos_id", "number", name="tickets_pos_number"),
)
