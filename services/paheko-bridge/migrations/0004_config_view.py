"""The bridge's view of the back office's configuration (companies and their Paheko, categories), from `config.changed`.

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
        create table config_items (
            entity_id uuid primary key,
            entity_type text not null,
            version integer not null,
            deleted boolean not null,
            company_id uuid,
            item jsonb not null,
            received_at timestamptz not null default now()
        );
        create index config_items_of_company on config_items (company_id, entity_type);
        """
    )


def downgrade() -> None:
    execute_script("drop table config_items")
