"""The inbox and the outbox of the bridge.

Revision ID: 0001
Revises:
"""

from alembic import op

from caisse_contracts.runtime.inbox import INBOX_DDL
from caisse_contracts.runtime.outbox import OUTBOX_DDL

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(INBOX_DDL)
    op.execute(OUTBOX_DDL)


def downgrade() -> None:
    op.execute("drop table inbox; drop table outbox; drop function outbox_notify")
