"""The outbox's second revision (`OUTBOX_NOTIFY_NEWEST_DDL`): a new event looks for one waiting before it
from the newest down, so that a sale's insert no longer steps over every event published since the last vacuum.

Revision ID: 0011
Revises: 0010
"""

from caisse_contracts.runtime.database import execute_script
from caisse_contracts.runtime.outbox import OUTBOX_NOTIFY_NEWEST_DDL, OUTBOX_NOTIFY_NEWEST_UNDO_DDL

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(OUTBOX_NOTIFY_NEWEST_DDL)


def downgrade() -> None:
    execute_script(OUTBOX_NOTIFY_NEWEST_UNDO_DDL)
