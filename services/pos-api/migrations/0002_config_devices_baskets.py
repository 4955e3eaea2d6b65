"""Configuration items with their history, device and operator credentials, company secrets, the session read
model, baskets and event seats.

Revision ID: 0002
Revises: 0001
"""

from caisse_runtime.database import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        create table config_items (
            id uuid primary key,
            entity_type text not null,
            version integer not null check (version >= 1),
            territory_id uuid,
            company_id uuid,
            shop_id uuid,
            pos_id uuid,
            item jsonb not null,
            deleted boolean not null default false,
            updated_by uuid,
            updated_at timestamptz not null
        );
        create index config_items_type on config_items (entity_type) where not deleted;
        create index config_items_company on config_items (company_id, entity_type) where not deleted;
        create index config_items_shop on config_items (shop_id, entity_type) where not deleted;
        create table config_history (
            id uuid not null,
            version integer not null,
            entity_type text not null,
            item jsonb not null,
            patch jsonb not null,
            deleted boolean not null,
            changed_by uuid,
            changed_at timestamptz not null,
            primary key (id, version)
        );
        create table device_credentials (
            pos_id uuid primary key,
            serial text not null unique,
            secret_sha256 text not null,
            rotated_at timestamptz not null
        );
        create table operator_credentials (
            operator_id uuid primary key,
            token_sha256 text unique,
            pin_sha256 text,
            created_at timestamptz not null
        );
        create table company_secrets (
            company_id uuid primary key,
            paheko_api_user text not null,
            paheko_api_password_encrypted text not null,
            updated_at timestamptz not null
        );
        create table pos_sessions (
            pos_id uuid primary key,
            session_id uuid not null,
            status text not null check (status in ('open', 'closed')),
            opened_at timestamptz not null,
            closed_at timestamptz,
            last_ticket_number integer
        );
        create table baskets (
            id uuid primary key,
            pos_id uuid not null,
            version integer not null,
            content jsonb not null,
            status text not null check (status in ('open', 'finalized')),
            ticket_id uuid,
            updated_at timestamptz not null
        );
        create index baskets_pos_open on baskets (pos_id) where status = 'open';
        create table event_seats (
            product_id uuid primary key,
            capacity integer not null,
            sold integer not null default 0,
            constraint event_seats_capacity check (sold >= 0 and sold <= capacity)
        );
        alter table tickets add column basket_id uuid;
        alter table tickets add column source_hash text;
        create index tickets_pos_number_desc on tickets (pos_id, number desc);
        """
    )


def downgrade() -> None:
    execute_script(
        """
        drop table event_seats; drop table baskets; drop table pos_sessions; drop table company_secrets;
        drop table operator_credentials; drop table device_credentials; drop table config_history;
        drop table config_items; alter table tickets drop column basket_id; alter table tickets drop column source_hash;
        """
    )
