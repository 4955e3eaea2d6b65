"""A till's session can be `closing`: pos-api marks it so before it forwards the close, and from then on takes only
the tickets the close waits for (`last_ticket_number`).

Revision ID: 0013
Revises: 0012
"""

from caisse_runtime.database import execute_script

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        alter table pos_sessions drop constraint pos_sessions_status_check;
        alter table pos_sessions add constraint pos_sessions_status_check
            check (status in ('open', 'closing', 'closed'));
        """
    )


def downgrade() -> None:
    execute_script(
        """
        update pos_sessions set status = 'open', last_ticket_number = null where status = 'closing';
        alter table pos_sessions drop constraint pos_sessions_status_check;
        alter table pos_sessions add constraint pos_sessions_status_check check (status in ('open', 'closed'));
        """
    )
