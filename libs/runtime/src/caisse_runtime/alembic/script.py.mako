"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
"""

from caisse_runtime.database import execute_script

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}


def upgrade() -> None:
    execute_script(
        """
        """
    )


def downgrade() -> None:
    execute_script(
        """
        """
    )
