"""Cash sessions and their movements, cheques per session, the configuration view, Z reports, the mail queue.

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
            entity_id uuid primary key,
            entity_type text not null,
            version integer not null,
            deleted boolean not null,
            item jsonb not null,
            shop_id uuid,
            company_id uuid,
            received_at timestamptz not null default now()
        );
        create index config_items_shop on config_items (entity_type, shop_id);
        create index config_items_company on config_items (entity_type, company_id);
        create table cash_sessions (
            session_id uuid primary key,
            pos_id uuid not null,
            pos_name text not null,
            shop_id uuid not null,
            company_id uuid not null,
            territory_id uuid not null,
            currency text not null,
            exponent integer not null,
            denominations jsonb not null,
            status text not null check (status in ('open', 'closing', 'closed')),
            opened_at timestamptz not null,
            operator_ids jsonb not null,
            float_counts jsonb not null,
            opening_float bigint not null,
            first_ticket_number integer not null,
            close_request jsonb,
            closing_since timestamptz,
            closed_at timestamptz,
            closing jsonb,
            last_ticket_number integer
        );
        create unique index cash_sessions_one_open_per_pos on cash_sessions (pos_id) where status <> 'closed';
        create index cash_sessions_closed on cash_sessions (pos_id, closed_at) where status = 'closed';
        create table cash_movements (
            movement_id uuid primary key,
            session_id uuid not null references cash_sessions (session_id),
            kind text not null check (kind in ('withdrawal', 'addition')),
            amount bigint not null check (amount > 0),
            reason text not null,
            operator_id uuid not null,
            at timestamptz not null
        );
        create index cash_movements_session on cash_movements (session_id, at);
        create table session_cheques (
            payment_id uuid primary key,
            session_id uuid not null,
            ticket_id uuid not null,
            number text not null,
            bank text,
            amount bigint not null
        );
        create index session_cheques_session on session_cheques (session_id);
        create table session_reports (
            session_id uuid primary key,
            report jsonb not null,
            created_at timestamptz not null default now()
        );
        create table mail_queue (
            mail_id uuid primary key,
            session_id uuid not null,
            recipients jsonb not null,
            attempts integer not null default 0,
            next_attempt_at timestamptz not null,
            sent_at timestamptz,
            last_error text,
            created_at timestamptz not null default now()
        );
        create index mail_queue_due on mail_queue (next_attempt_at) where sent_at is null;
        """
    )


def downgrade() -> None:
    execute_script(
        "drop table mail_queue; drop table session_reports; drop table session_cheques; drop table cash_movements;"
        " drop table cash_sessions; drop table config_items"
    )
