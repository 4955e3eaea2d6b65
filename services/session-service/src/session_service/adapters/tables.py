"""session-service's PostgreSQL tables (SQLAlchemy Core); migrations create them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, Integer, MetaData, Table, Text, Uuid
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

config_items = Table(
    "config_items",
    metadata,
    Column("entity_id", Uuid, primary_key=True),
    Column("entity_type", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("item", JSONB, nullable=False),
    Column("shop_id", Uuid),
    Column("company_id", Uuid),
    Column("received_at", DateTime(timezone=True)),
)

cash_sessions = Table(
    "cash_sessions",
    metadata,
    Column("session_id", Uuid, primary_key=True),
    Column("pos_id", Uuid, nullable=False),
    Column("pos_name", Text, nullable=False),
    Column("shop_id", Uuid, nullable=False),
    Column("company_id", Uuid, nullable=False),
    Column("territory_id", Uuid, nullable=False),
    Column("currency", Text, nullable=False),
    Column("exponent", Integer, nullable=False),
    Column("denominations", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("operator_ids", JSONB, nullable=False),
    Column("float_counts", JSONB, nullable=False),
    Column("opening_float", BigInteger, nullable=False),
    Column("first_ticket_number", Integer, nullable=False),
    Column("close_request", JSONB),
    Column("closing_since", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("closing", JSONB),
    Column("last_ticket_number", Integer),
)

cash_movements = Table(
    "cash_movements",
    metadata,
    Column("movement_id", Uuid, primary_key=True),
    Column("session_id", Uuid, nullable=False),
    Column("kind", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("operator_id", Uuid, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

session_cheques = Table(
    "session_cheques",
    metadata,
    Column("payment_id", Uuid, primary_key=True),
    Column("session_id", Uuid, nullable=False),
    Column("ticket_id", Uuid, nullable=False),
    Column("number", Text, nullable=False),
    Column("bank", Text),
    Column("amount", BigInteger, nullable=False),
)

session_reports = Table(
    "session_reports",
    metadata,
    Column("session_id", Uuid, primary_key=True),
    Column("report", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

mail_queue = Table(
    "mail_queue",
    metadata,
    Column("mail_id", Uuid, primary_key=True),
    Column("session_id", Uuid, nullable=False),
    Column("recipients", JSONB, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True)),
)

late_tickets = Table(
    "late_tickets",
    metadata,
    Column("ticket_id", Uuid, primary_key=True),
    Column("session_id", Uuid, nullable=False),
    Column("pos_id", Uuid, nullable=False),
    Column("shop_id", Uuid, nullable=False),
    Column("company_id", Uuid, nullable=False),
    Column("number", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column("total_incl_tax", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("by_method", JSONB, nullable=False),
    Column("finalized_at", DateTime(timezone=True), nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

session_deposits = Table(
    "session_deposits",
    metadata,
    Column("session_id", Uuid, primary_key=True),
    Column("deposit_id", Uuid, nullable=False),
    Column("cash", BigInteger, nullable=False),
    Column("cheques", JSONB, nullable=False),
    Column("reference", Text, nullable=False),
    Column("deposited_on", Date, nullable=False),
    Column("confirmed_at", DateTime(timezone=True), nullable=False),
    Column("confirmed_by", Uuid),
)
