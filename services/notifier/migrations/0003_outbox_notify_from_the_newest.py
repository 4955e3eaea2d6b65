"""The outbox's second revision (`frozen("outbox_3_notify_newest")`): a new event looks for one waiting before it
from the newest down, so that a sale's insert no longer steps over every event published since the last vacuum.

Revision ID: 0003
Revises: 0002
"""

from caisse_runtime.database import execute_script
from caisse_runtime.frozen_sql import frozen

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(frozen("outbox_3_notify_newest"))


def downgrade() -> None:
    execute_script(frozen("outbox_3_notify_newest.undo"))
