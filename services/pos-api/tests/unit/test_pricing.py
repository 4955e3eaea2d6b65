"""Pricing what the till chose: catalogue prices win, free prices for category items, refusals name the field."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from caisse_contracts.config import (
    CatalogueOverride,
    Category,
    Denomination,
    DenominationKind,
    Product,
    TaxRate,
    Territory,
)
from caisse_contracts.events import LineKind
from caisse_contracts.pricing import Catalogue, shop_catalogue
from caisse_contracts.tills import BasketContent, BasketLine
from pos_api.domain.errors import TicketInconsistentError
from pos_api.domain.pricing import price_lines

TEXTILE: dict[str, Any] = {
    "id": str(uuid.uuid4()),
    "name": "Textile",
    "revenue_account": "7071",
    "default_tax_code": "TVA20",
    "sold_by_weight": True,
}
GOODS: dict[str, Any] = {
    "id": str(uuid.uuid4()),
    "name": "Produits neufs",
    "revenue_account": "7070",
    "default_tax_code": "TVA20",
}
BAG: dict[str, Any] = {
    "id": str(uuid.uuid4()),
    "name": "Sac cabas",
    "category_id": GOODS["id"],
    "price": 100,
    "kind": "product",
}
BULBS: dict[str, Any] = {
    "id": str(uuid.uuid4()),
    "name": "Ampoule",
    "category_id": GOODS["id"],
    "price": 350,
    "tax_code": "TVA5.5",
}
SEAT: dict[str, Any] = {
    "id": str(uuid.uuid4()),
    "name": "Atelier",
    "category_id": GOODS["id"],
    "price": 500,
    "kind": "event_seat",
    "capacity": 8,
}
TERRITORY = Territory(
    id=uuid.uuid4(),
    version=1,
    updated_at=datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
    name="France métropolitaine",
    currency="EUR",
    currency_exponent=2,
    tax_rates=(
        TaxRate(code="TVA20", label="TVA 20 %", rate_bp=2000),
        TaxRate(code="TVA5.5", label="TVA 5,5 %", rate_bp=550),
    ),
    denominations=(Denomination(value=500, kind=DenominationKind.NOTE),),
)


COMPANY_ID = str(uuid.uuid4())
SHOP_ID = str(uuid.uuid4())


def _stored(fields: dict[str, Any], **where: str) -> dict[str, Any]:
    """The fields as the back office stores them: where they sit, with an id (theirs if they have one), version 1."""
    return {"id": str(uuid.uuid4()), "version": 1, "updated_at": TERRITORY.updated_at, **where, **fields}


def catalogue(overrides: list[dict[str, Any]] | None = None) -> Catalogue:
    return Catalogue.of(
        shop_catalogue(
            [Category.model_validate(_stored(c, company_id=COMPANY_ID)) for c in (TEXTILE, GOODS)],
            [Product.model_validate(_stored(p, company_id=COMPANY_ID)) for p in (BAG, BULBS, SEAT)],
            [CatalogueOverride.model_validate(_stored(o, shop_id=SHOP_ID)) for o in overrides or []],
        ),
        TERRITORY,
    )


def line(**fields: Any) -> BasketLine:
    return BasketLine(line_id=uuid.uuid4(), **fields)


def test_a_product_is_priced_from_the_catalogue_with_its_category_account_and_rate() -> None:
    [priced] = price_lines(BasketContent(lines=(line(product_id=uuid.UUID(BULBS["id"]), quantity=2),)), catalogue())
    assert (priced.unit_price, priced.quantity, priced.tax_rate_bp, priced.revenue_account) == (350, 2, 550, "7070")
    assert priced.kind is LineKind.PRODUCT


def test_the_shop_price_of_an_override_wins_over_the_company_price() -> None:
    override = {"product_id": BAG["id"], "price": 120}
    [priced] = price_lines(BasketContent(lines=(line(product_id=uuid.UUID(BAG["id"])),)), catalogue([override]))
    assert priced.unit_price == 120


def test_an_item_of_a_category_keeps_its_free_price_and_weight() -> None:
    content = BasketContent(lines=(line(category_id=uuid.UUID(TEXTILE["id"]), price=800, weight_grams=1250),))
    [priced] = price_lines(content, catalogue())
    assert (priced.unit_price, priced.weight_grams, priced.kind) == (800, 1250, LineKind.CATEGORY_ITEM)


def test_a_seat_carries_the_capacity_of_its_event() -> None:
    [priced] = price_lines(BasketContent(lines=(line(product_id=uuid.UUID(SEAT["id"])),)), catalogue())
    assert (priced.kind, priced.seat_capacity) == (LineKind.EVENT_SEAT, 8)


def test_a_product_the_shop_does_not_sell_is_refused_naming_the_line() -> None:
    unknown = line(product_id=uuid.uuid4())
    hidden = {"product_id": BAG["id"], "active": False}
    with pytest.raises(TicketInconsistentError) as caught:
        price_lines(BasketContent(lines=(unknown, line(product_id=uuid.UUID(BAG["id"])))), catalogue([hidden]))
    assert [p.field for p in caught.value.problems] == ["lines[0].product_id", "lines[1].product_id"]


def test_a_weighed_category_item_without_weight_is_refused() -> None:
    content = BasketContent(lines=(line(category_id=uuid.UUID(TEXTILE["id"]), price=800),))
    with pytest.raises(TicketInconsistentError) as caught:
        price_lines(content, catalogue())
    assert caught.value.problems[0].field == "lines[0].weight_grams"


def test_a_line_cannot_name_both_a_product_and_a_category() -> None:
    with pytest.raises(ValueError, match="either a product_id or a category_id"):
        line(product_id=uuid.UUID(BAG["id"]), category_id=uuid.UUID(TEXTILE["id"]), price=1)


def test_a_till_cannot_set_the_price_of_a_catalogue_product() -> None:
    content = BasketContent(lines=(line(product_id=uuid.UUID(BAG["id"]), price=1),))
    with pytest.raises(TicketInconsistentError) as caught:
        price_lines(content, catalogue())
    assert caught.value.problems[0].field == "lines[0].price"
