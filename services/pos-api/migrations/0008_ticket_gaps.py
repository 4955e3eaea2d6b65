"""Gaps in a till's ticket numbers: recorded when a later number arrives first, closed when the missing one does.

Revision ID: 0008
Revises: 0007
"""

from caisse_runtime.database import execute_script

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        create table ticket_gaps (
            pos_id uuid not null,
            number integer not null,
            detected_at timestamptz not null,
            filled_at timestamptz,
            primary key (pos_id, number)
        );
        create index ticket_gaps_open on ticket_gaps (pos_id) where filled_at is null;
        """
    )


def downgrade() -> None:
    execute_script("drop table ticket_gaps")
