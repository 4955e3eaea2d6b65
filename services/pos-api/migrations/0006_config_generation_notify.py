"""Announce each new configuration generation (NOTIFY at commit), so processes need not ask for it per request.

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
        create or replace function bump_config_generation() returns trigger language plpgsql as $$
        declare
            next_generation bigint;
        begin
            update config_generation set generation = generation + 1 where id = 1 returning generation into next_generation;
            perform pg_notify('caisse_config_generation', next_generation::text);
            return null;
        end $$;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        create or replace function bump_config_generation() returns trigger language plpgsql as $$
        begin
            update config_generation set generation = generation + 1 where id = 1;
            return null;
        end $$;
        """
    )
