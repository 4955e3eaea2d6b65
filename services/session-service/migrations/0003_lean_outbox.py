"""The outbox's first revision (`frozen("outbox_2_lean")`): plain `json` documents, and the relay woken only after
a quiet spell.

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
    execute_script(frozen("outbox_2_lean"))


def downgrade() -> None:
    execute_script(frozen("outbox_2_lean.undo"))
