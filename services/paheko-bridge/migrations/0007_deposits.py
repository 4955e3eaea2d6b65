"""Sessions' confirmed bank deposits as the bridge keeps them until they are in Paheko (or the FEC file).

Revision ID: 0007
Revises: 0006
"""

from caisse_runtime.database import execute_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        create table deposits (
            session_id uuid primary key,
            deposit_id uuid not null unique,
            company_id uuid not null,
            deposit jsonb not null,
            status text not null default 'waiting',
            attempts integer not null default 0,
            next_attempt_at timestamptz not null,
            last_error text,
            received_at timestamptz not null,
            settled_at timestamptz
        );
        create index deposits_waiting on deposits (next_attempt_at) where status = 'waiting';
        """
    )


def downgrade() -> None:
    execute_script("drop table deposits;")
