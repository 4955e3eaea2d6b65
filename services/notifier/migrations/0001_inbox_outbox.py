"""The inbox and the outbox of the notifier.

Revision ID: 0001
Revises:
"""

from caisse_contracts.runtime.database import execute_script
from caisse_contracts.runtime.inbox import INBOX_DDL
from caisse_contracts.runtime.outbox import OUTBOX_DDL

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(INBOX_DDL)
    execute_script(OUTBOX_DDL)


def downgrade() -> None:
    execute_script("drop table inbox; drop table outbox; drop function outbox_notify")
