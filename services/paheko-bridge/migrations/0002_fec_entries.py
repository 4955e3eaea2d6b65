"""The FEC entries of the companies without Paheko: numbered per company and fiscal year, one per source.

The table is the journal's truth: an entry's number and the index of what was booked (a ticket, a session's
variance) are written in one transaction; the FEC file on disk is appended from it, in number order.

Revision ID: 0002
Revises: 0001
"""

from caisse_runtime.database import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FEC_ENTRIES_DDL = """
create table fec_entries (
    company_id uuid not null,
    fiscal_year_end date not null,
    number bigint not null check (number >= 1),
    source_kind text not null,
    source_id uuid not null,
    entry_date date not null,
    valid_date date not null,
    lines text not null,
    booked_at timestamptz not null default now(),
    primary key (company_id, fiscal_year_end, number),
    unique (company_id, source_kind, source_id)
);
"""


def upgrade() -> None:
    execute_script(FEC_ENTRIES_DDL)


def downgrade() -> None:
    execute_script("drop table fec_entries")
