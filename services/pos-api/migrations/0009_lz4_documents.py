"""The JSON documents written with every sale (ticket body, event payload, basket) compress with lz4.

PostgreSQL compresses a row's large values with pglz by default, and pglz was the first single function in
the database's profile under a finalize load; lz4 compresses several times faster for about the same size.

Revision ID: 0009
Revises: 0008
"""

from caisse_runtime.database import execute_script

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        alter table tickets alter column body set compression lz4;
        alter table outbox alter column payload set compression lz4;
        alter table baskets alter column content set compression lz4;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        alter table tickets alter column body set compression pglz;
        alter table outbox alter column payload set compression pglz;
        alter table baskets alter column content set compression pglz;
        """
    )
