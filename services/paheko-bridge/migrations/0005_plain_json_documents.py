"""The outbox's documents and the stored tickets as plain `json`: the bridge reads a stored ticket whole, never
inside, so PostgreSQL need not parse it into `jsonb` on the way in and print it back on the way out.

Revision ID: 0005
Revises: 0004
"""

from caisse_contracts.runtime.database import execute_script
from caisse_contracts.runtime.outbox import OUTBOX_PLAIN_JSON_DDL

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        OUTBOX_PLAIN_JSON_DDL
        + """
        alter table pushes alter column ticket type json using ticket::json;
        alter table pushes alter column ticket set compression lz4;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        alter table outbox alter column payload type jsonb using payload::jsonb,
                           alter column headers type jsonb using headers::jsonb;
        alter table pushes alter column ticket type jsonb using ticket::jsonb;
        """
    )
