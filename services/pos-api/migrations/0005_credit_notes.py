"""Finding the credit notes of a sale quickly.

Revision ID: 0005
Revises: 0004
"""

from caisse_runtime.database import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        "create index tickets_original on tickets ((body->>'original_ticket_id')) where kind = 'credit_note'"
    )


def downgrade() -> None:
    execute_script("drop index tickets_original")
