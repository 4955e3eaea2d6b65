"""A configuration generation: bumped by every change of the configuration or of a device's credentials, so a
process can keep the configuration in memory and know with one cheap read whether it is still current.

Revision ID: 0004
Revises: 0003
"""

from caisse_runtime.database import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        create table config_generation (
            id integer primary key check (id = 1),
            generation bigint not null
        );
        insert into config_generation values (1, 1);
        create function bump_config_generation() returns trigger language plpgsql as $$
        begin
            update config_generation set generation = generation + 1 where id = 1;
            return null;
        end $$;
        create trigger config_items_generation after insert or update or delete on config_items
            for each statement execute function bump_config_generation();
        create trigger device_credentials_generation after insert or update or delete on device_credentials
            for each statement execute function bump_config_generation();
        """
    )


def downgrade() -> None:
    execute_script(
        """
        drop trigger device_credentials_generation on device_credentials;
        drop trigger config_items_generation on config_items;
        drop function bump_config_generation;
        drop table config_generation;
        """
    )
