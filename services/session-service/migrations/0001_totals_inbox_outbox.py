"""Running totals per session, the tickets applied to them, the inbox and the outbox.

Revision ID: 0001
Revises:
"""

from caisse_runtime.database import execute_script
from caisse_runtime.frozen_sql import frozen

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(frozen("inbox_1"))
    execute_script(frozen("outbox_1"))
    execute_script(
        """
        create table session_totals (
            session_id uuid primary key,
            pos_id uuid not null,
            currency text not null,
            ticket_count integer not null,
            credit_note_count integer not null,
            credit_note_total bigint not null,
            first_number integer,
            last_number integer,
            total_incl_tax bigint not null,
            cash_received bigint not null,
            change_given bigint not null,
            cash_rounding bigint not null,
            weight_grams bigint not null,
            by_method jsonb not null,
            by_category jsonb not null,
            updated_at timestamptz not null
        );
        create table session_tickets (
            ticket_id uuid primary key,
            session_id uuid not null,
            pos_id uuid not null,
            number integer not null,
            total_incl_tax bigint not null,
            event_id uuid not null,
            applied_at timestamptz not null
        );
        create index session_tickets_session on session_tickets (session_id, number);
        """
    )


def downgrade() -> None:
    execute_script(
        "drop table session_tickets; drop table session_totals; drop table inbox; drop table outbox;"
        " drop function outbox_notify"
    )
