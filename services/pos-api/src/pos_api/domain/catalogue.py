"""The catalogue a shop sells from: its company's categories and products, with the shop's own overrides."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def shop_catalogue(
    categories: Iterable[dict[str, Any]], products: Iterable[dict[str, Any]], overrides: Iterable[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Categories and the products the shop sells, each at the shop's price; inactive ones left out."""
    by_product = {str(o["product_id"]): o for o in overrides}
    sold: list[dict[str, Any]] = []
    for product in products:
        override = by_product.get(str(product["id"]))
        effective = dict(product)
        if override is not None:
            if override.get("price") is not None:
                effective["price"] = override["price"]
            if override.get("active") is not None:
                effective["active"] = override["active"]
        if effective.get("active", True):
            sold.append(effective)
    return {"categories": list(categories), "products": sold}
