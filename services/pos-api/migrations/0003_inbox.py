"""The inbox of pos-api's consumers (the session read model).

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
    execute_script(frozen("inbox_1"))


def downgrade() -> None:
    execute_script("drop table inbox")
