"""Stock of the stock-tracked products: one level per shop and product, every change a movement with the level
before and after and the document that made it, and the back office's documents (deliveries, adjustments,
inventories) kept once by the id the back office chose, so that a retry writes nothing twice.

Revision ID: 0014
Revises: 0013
"""

from caisse_runtime.database import execute_script

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        create table stock_levels (
            shop_id uuid not null,
            product_id uuid not null,
            level integer not null,
            updated_at timestamptz not null,
            primary key (shop_id, product_id)
        );
        create table stock_documents (
            id uuid primary key,
            shop_id uuid not null,
            document_type text not null check (document_type in ('delivery', 'adjustment', 'inventory')),
            reason text not null,
            reference text,
            note text,
            content_sha256 text not null,
            created_by uuid,
            created_at timestamptz not null
        );
        create table stock_movements (
            seq bigint generated always as identity primary key,
            id uuid not null unique,
            shop_id uuid not null,
            product_id uuid not null,
            change integer not null,
            level_before integer not null,
            level_after integer not null,
            reason text not null
                check (reason in ('sale', 'refund', 'delivery', 'inventory', 'loss', 'adjustment')),
            document_type text not null,
            document_id uuid,
            document_ref text,
            pos_id uuid,
            moved_by uuid,
            moved_at timestamptz not null
        );
        create index stock_movements_of_shop on stock_movements (shop_id, seq);
        create index stock_movements_of_product on stock_movements (shop_id, product_id, seq);
        create index stock_movements_of_document on stock_movements (document_id, seq);
        """
    )


def downgrade() -> None:
    execute_script("drop table stock_movements; drop table stock_documents; drop table stock_levels")
