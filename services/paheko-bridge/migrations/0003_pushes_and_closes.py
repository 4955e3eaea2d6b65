"""Tickets and session closes as the bridge keeps them until they are in Paheko (or the FEC file).

Revision ID: 0003
Revises: 0002
"""

from caisse_runtime.database import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        create table pushes (
            ticket_id uuid primary key,
            company_id uuid not null,
            pos_id uuid not null,
            session_id uuid not null,
            number integer not null,
            ticket jsonb not null,
            status text not null default 'pending',
            attempts integer not null default 0,
            next_attempt_at timestamptz not null,
            last_error text,
            received_at timestamptz not null,
            pushed_at timestamptz
        );
        create index pushes_due on pushes (next_attempt_at) where status = 'pending';
        create index pushes_of_session on pushes (session_id, number);
        create index pushes_rejected on pushes (received_at) where status = 'rejected';
        create table closes (
            session_id uuid primary key,
            company_id uuid not null,
            pos_id uuid not null,
            closed jsonb not null,
            status text not null default 'waiting',
            attempts integer not null default 0,
            next_attempt_at timestamptz not null,
            last_error text,
            differences jsonb not null default '[]',
            received_at timestamptz not null,
            settled_at timestamptz
        );
        create index closes_waiting on closes (next_attempt_at) where status = 'waiting';
        """
    )


def downgrade() -> None:
    execute_script("drop table closes; drop table pushes")
