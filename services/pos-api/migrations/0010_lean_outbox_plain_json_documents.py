"""The documents written with every sale (ticket body, event, basket) as plain `json`; the outbox's first
revision (`frozen("outbox_2_lean")`).

They are stored and read whole: as `jsonb`, PostgreSQL parsed each into its binary form on insert and printed
it back on every read and on the outbox's publish. The one lookup inside a ticket (a sale's credit notes)
keeps its index. The index on (pos, number descending) goes: the unique index on (pos, number) is read
backwards just as well, and every sale paid for both.

Revision ID: 0010
Revises: 0009
"""

from caisse_runtime.database import execute_script
from caisse_runtime.frozen_sql import frozen

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        frozen("outbox_2_lean")
        + """
        drop index tickets_original;
        alter table tickets alter column body type json using body::json;
        alter table baskets alter column content type json using content::json;
        alter table tickets alter column body set compression lz4;
        alter table baskets alter column content set compression lz4;
        create index tickets_original on tickets ((body ->> 'original_ticket_id')) where kind = 'credit_note';
        drop index tickets_pos_number_desc;
        """
    )


def downgrade() -> None:
    execute_script(
        frozen("outbox_2_lean.undo")
        + """
        drop index tickets_original;
        alter table tickets alter column body type jsonb using body::jsonb;
        alter table baskets alter column content type jsonb using content::jsonb;
        create index tickets_original on tickets ((body ->> 'original_ticket_id')) where kind = 'credit_note';
        create index tickets_pos_number_desc on tickets (pos_id, number desc);
        """
    )
