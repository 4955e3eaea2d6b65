"""What each till last reported of itself (its own last number, a number clash, the entries it keeps aside), and the
releases of a till's numbering given by ops.

Revision ID: 0015
Revises: 0014
"""

from caisse_runtime.database import execute_script

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        create table till_reports (
            pos_id uuid primary key,
            reported_at timestamptz not null,
            received_at timestamptz not null,
            report jsonb not null
        );
        create table numbering_releases (
            pos_id uuid not null,
            resume_after integer not null check (resume_after >= 1),
            reason text not null,
            released_by uuid not null,
            released_at timestamptz not null,
            primary key (pos_id, resume_after)
        );
        """
    )


def downgrade() -> None:
    execute_script("drop table numbering_releases; drop table till_reports;")
