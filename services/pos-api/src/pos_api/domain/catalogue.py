"""The catalogue a shop sells from: its company's categories and products, with the shop's own overrides."""

from __future__ import annotations

from collections.abc import Iterable

from caisse_contracts.config import CatalogueOverride, Category, Product
from caisse_contracts.till_views import ShopCatalogue


def shop_catalogue(
    categories: Iterable[Category], products: Iterable[Product], overrides: Iterable[CatalogueOverride]
) -> ShopCatalogue:
    """Categories and the products the shop sells, each at the shop's price; inactive ones left out."""
    by_product = {o.product_id: o for o in overrides}
    sold: list[Product] = []
    for product in products:
        override = by_product.get(product.id)
        effective = product
        if override is not None:
            changes = {"price": override.price, "active": override.active}
            effective = product.model_copy(update={k: v for k, v in changes.items() if v is not None})
        if effective.active:
            sold.append(effective)
    return ShopCatalogue(categories=tuple(categories), products=tuple(sold))
