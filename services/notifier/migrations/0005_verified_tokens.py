"""The stream tokens this notifier (or another replica) verified, by digest, until they expire: after a restart,
ten thousand tills coming back with the tokens they hold cost no signature check each.

The SQL is frozen here: this migration never changes once released.

Revision ID: 0005
Revises: 0004
"""

from caisse_runtime.database import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = """
create table verified_tokens (
    digest bytea primary key,
    claims jsonb not null,
    expires_at timestamptz not null
);
create index verified_tokens_expiry on verified_tokens (expires_at);
"""

DOWNGRADE = """
drop table verified_tokens;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
