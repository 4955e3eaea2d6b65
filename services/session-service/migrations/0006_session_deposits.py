"""A closed session's bank deposit, confirmed once: the cash, the cheques, the slip's number and day.

Revision ID: 0006
Revises: 0005
"""

from caisse_runtime.database import execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        create table session_deposits (
            session_id uuid primary key,
            deposit_id uuid not null unique,
            cash bigint not null check (cash >= 0),
            cheques jsonb not null,
            reference text not null,
            deposited_on date not null,
            confirmed_at timestamptz not null,
            confirmed_by uuid
        );
        """
    )


def downgrade() -> None:
    execute_script("drop table session_deposits;")
