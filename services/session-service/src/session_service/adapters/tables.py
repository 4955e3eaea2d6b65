"""session-service's PostgreSQL tables (SQLAlchemy Core); migrations create them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, Table, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

session_totals = Table(
    "session_totals",
    metadata,
    Column("session_id", Uuid, primary_key=True),
    Column("pos_id", Uuid, nullable=False),
    Column("currency", Text, nullable=False),
    Column("ticket_count", Integer, nullable=False),
    Column("credit_note_count", Integer, nullable=False),
    Column("credit_note_total", BigInteger, nullable=False),
    Column("first_number", Integer),
    Column("last_number", Integer),
    Column("total_incl_tax", BigInteger, nullable=False),
    Column("cash_received", BigInteger, nullable=False),
    Column("change_given", BigInteger, nullable=False),
    Column("cash_rounding", BigInteger, nullable=False),
    Column("weight_grams", BigInteger, nullable=False),
    Column("by_method", JSONB, nullable=False),
    Column("by_category", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

session_tickets = Table(
    "session_tickets",
    metadata,
    Column("ticket_id", Uuid, primary_key=True),
    Column("session_id", Uuid, nullable=False),
    Column("pos_id", Uuid, nullable=False),
    Column("number", Integer, nullable=False),
    Column("total_incl_tax", BigInteger, nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)
