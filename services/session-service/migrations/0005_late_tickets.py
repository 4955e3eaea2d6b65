"""Tickets that reached a session after it closed: kept aside, never counted, for ops and the treasurer.

Revision ID: 0005
Revises: 0004
"""

from caisse_runtime.database import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        create table late_tickets (
            ticket_id uuid primary key,
            session_id uuid not null,
            pos_id uuid not null,
            shop_id uuid not null,
            company_id uuid not null,
            number integer not null,
            kind text not null,
            total_incl_tax bigint not null,
            currency text not null,
            by_method jsonb not null,
            finalized_at timestamptz not null,
            event_id uuid not null,
            received_at timestamptz not null
        );
        create index late_tickets_session on late_tickets (session_id, number);
        create index late_tickets_shop on late_tickets (shop_id, received_at);
        """
    )


def downgrade() -> None:
    execute_script("drop table late_tickets;")
