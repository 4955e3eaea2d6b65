"""Ticket numbers a till sent again with other content: refused, and kept aside here for ops.

Revision ID: 0012
Revises: 0011
"""

from caisse_runtime.database import execute_script

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        create table ticket_conflicts (
            pos_id uuid not null,
            number integer not null,
            attempt_sha256 text not null,
            existing_ticket_id uuid not null,
            attempted_ticket_id uuid not null,
            source text not null check (source in ('finalize', 'credit_note', 'ticket')),
            attempt json not null,
            detected_at timestamptz not null,
            primary key (pos_id, number, attempt_sha256)
        );
        """
    )


def downgrade() -> None:
    execute_script("drop table ticket_conflicts")
