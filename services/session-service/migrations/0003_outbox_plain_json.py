"""The outbox's documents as plain `json` (see `OUTBOX_PLAIN_JSON_DDL`).

Revision ID: 0003
Revises: 0002
"""

from caisse_contracts.runtime.database import execute_script
from caisse_contracts.runtime.outbox import OUTBOX_PLAIN_JSON_DDL

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(OUTBOX_PLAIN_JSON_DDL)


def downgrade() -> None:
    execute_script(
        """
        alter table outbox alter column payload type jsonb using payload::jsonb,
                           alter column headers type jsonb using headers::jsonb;
        """
    )
