"""The notifier's own state: the latest item of every entity, the change log by position, and the tills' presence.

The SQL is frozen here: this migration never changes once released.

Revision ID: 0004
Revises: 0003
"""

from caisse_runtime.database import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = """
create table config_entities (
    entity_type text not null,
    entity_id uuid not null,
    version integer not null,
    deleted boolean not null,
    item jsonb not null,
    territory_id uuid,
    company_id uuid,
    shop_id uuid,
    pos_id uuid,
    position bigint not null,
    primary key (entity_type, entity_id)
);

create table config_changes (
    position bigint primary key,
    entity_type text not null,
    entity_id uuid not null,
    from_version integer,
    version integer not null,
    deleted boolean not null,
    patch jsonb not null,
    territory_id uuid,
    company_id uuid,
    shop_id uuid,
    pos_id uuid,
    had_before boolean not null,
    before_territory_id uuid,
    before_company_id uuid,
    before_shop_id uuid,
    before_pos_id uuid,
    recorded_at timestamptz not null default now()
);

create table config_log (
    id integer primary key check (id = 1),
    horizon bigint not null
);
insert into config_log (id, horizon) values (1, -1);

create table tills (
    pos_id uuid primary key,
    territory_id uuid not null,
    company_id uuid not null,
    shop_id uuid not null,
    notifier text not null,
    connection_id uuid not null,
    connected boolean not null,
    connected_at timestamptz not null,
    disconnected_at timestamptz,
    last_seen_at timestamptz not null,
    acked_position bigint,
    close_code integer
);
create index tills_shop on tills (shop_id);
create index tills_company on tills (company_id);
"""

DOWNGRADE = """
drop table tills;
drop table config_log;
drop table config_changes;
drop table config_entities;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
