"""The outbox's first revision (`OUTBOX_LEAN_DDL`): plain `json` documents, and the relay woken only after
a quiet spell.

Revision ID: 0003
Revises: 0002
"""

from caisse_contracts.runtime.database import execute_script
from caisse_contracts.runtime.outbox import OUTBOX_LEAN_DDL, OUTBOX_LEAN_UNDO_DDL

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(OUTBOX_LEAN_DDL)


def downgrade() -> None:
    execute_script(OUTBOX_LEAN_UNDO_DDL)
