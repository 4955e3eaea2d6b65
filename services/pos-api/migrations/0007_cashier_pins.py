"""Cashier PINs: a slow salted hash, and a lock after repeated wrong PINs.

Revision ID: 0007
Revises: 0006
"""

from caisse_runtime.database import execute_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        alter table operator_credentials rename column pin_sha256 to pin_hash;
        alter table operator_credentials add column failed_pins integer not null default 0;
        alter table operator_credentials add column locked_until timestamptz;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        alter table operator_credentials drop column locked_until;
        alter table operator_credentials drop column failed_pins;
        alter table operator_credentials rename column pin_hash to pin_sha256;
        """
    )
