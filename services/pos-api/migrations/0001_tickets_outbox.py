"""Tickets (immutable, unique per POS and number) and the transactional outbox.

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
    execute_script(frozen("outbox_1"))
    execute_script(
        """
        create table tickets (
            id uuid primary key,
            pos_id uuid not null,
            number integer not null check (number >= 1),
            session_id uuid not null,
            shop_id uuid not null,
            kind text not null,
            total_incl_tax bigint not null,
            currency text not null,
            finalized_at timestamptz not null,
            received_at timestamptz not null,
            content_hash text not null,
            body jsonb not null,
            constraint tickets_pos_number unique (pos_id, number)
        );
        create index tickets_session on tickets (session_id);
        create function tickets_immutable() returns trigger language plpgsql as $$
        begin
            raise exception 'a finalized ticket is immutable; issue a credit note';
        end $$;
        create trigger tickets_immutable before update or delete on tickets
            for each row execute function tickets_immutable();
        """
    )


def downgrade() -> None:
    execute_script(
        "drop table tickets; drop table outbox; drop function outbox_notify; drop function tickets_immutable"
    )
