"""The outbox's first revision (`frozen("outbox_2_lean")`), and the stored tickets as plain `json`: the bridge reads a stored ticket whole, never
inside, so PostgreSQL need not parse it into `jsonb` on the way in and print it back on the way out.

Revision ID: 0005
Revises: 0004
"""

from caisse_runtime.database import execute_script
from caisse_runtime.frozen_sql import frozen

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        frozen("outbox_2_lean")
        + """
        alter table pushes alter column ticket type json using ticket::json;
        alter table pushes alter column ticket set compression lz4;
        """
    )


def downgrade() -> None:
    execute_script(
        frozen("outbox_2_lean.undo")
        + """
        alter table pushes alter column ticket type jsonb using ticket::jsonb;
        """
    )
