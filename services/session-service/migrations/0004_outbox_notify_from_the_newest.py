"""The outbox's second revision (`frozen("outbox_3_notify_newest")`): a new event looks for one waiting before it
from the newest down, so that a sale's insert no longer steps over every event published since the last vacuum.

Revision ID: 0004
Revises: 0003
"""

from caisse_runtime.database import execute_script
from caisse_runtime.frozen_sql import frozen

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(frozen("outbox_3_notify_newest"))


def downgrade() -> None:
    execute_script(frozen("outbox_3_notify_newest.undo"))
