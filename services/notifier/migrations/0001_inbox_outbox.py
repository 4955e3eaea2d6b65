"""The inbox and the outbox of the notifier.

Revision ID: 0001
Revises:
"""

from caisse_runtime.database import execute_script
from caisse_runtime.frozen_sql import frozen

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(frozen("inbox_1"))
    execute_script(frozen("outbox_1"))


def downgrade() -> None:
    execute_script("drop table inbox; drop table outbox; drop function outbox_notify")
