"""The inbox of pos-api's consumers (the session read model).

Revision ID: 0003
Revises: 0002
"""

from caisse_contracts.runtime.database import execute_script
from caisse_contracts.runtime.inbox import INBOX_DDL

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(INBOX_DDL)


def downgrade() -> None:
    execute_script("drop table inbox")
