"""Demo data through the back-office API: two territories, two companies, three shops, five tills, a catalogue.

France (EUR, VAT 20 / 10 / 5.5 / 2.1 %) and New Caledonia (XPF with no decimals, TGC 22 / 11 / 6 / 3 %, cash
rounded to the nearest 5 francs). A ressourcerie sells second-hand items by category with a free price and a
weight, a few fixed-price products, and seats at a repair workshop with a capacity.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

EUR_DENOMINATIONS = [
    *({"value": v, "kind": "note"} for v in (50000, 20000, 10000, 5000, 2000, 1000, 500)),
    *({"value": v, "kind": "coin"} for v in (200, 100, 50, 20, 10, 5, 2, 1)),
]
XPF_DENOMINATIONS = [
    *({"value": v, "kind": "note"} for v in (10000, 5000, 1000, 500)),
    *({"value": v, "kind": "coin"} for v in (100, 50, 20, 10, 5, 2, 1)),
]
FRANCE = {
    "name": "France métropolitaine",
    "currency": "EUR",
    "currency_exponent": 2,
    "cash_rounding": "none",
    "prices_include_tax": True,
    "tax_rates": [
        {"code": "TVA20", "label": "TVA 20 %", "rate_bp": 2000},
        {"code": "TVA10", "label": "TVA 10 %", "rate_bp": 1000},
        {"code": "TVA5.5", "label": "TVA 5,5 %", "rate_bp": 550},
        {"code": "TVA2.1", "label": "TVA 2,1 %", "rate_bp": 210},
        {"code": "EXO", "label": "Exonéré", "rate_bp": 0},
    ],
    "denominations": EUR_DENOMINATIONS,
    "locale": "fr-FR",
    "timezone": "Europe/Paris",
}
NEW_CALEDONIA = {
    "name": "Nouvelle-Calédonie",
    "currency": "XPF",
    "currency_exponent": 0,
    "cash_rounding": "nearest_5",
    "prices_include_tax": True,
    "tax_rates": [
        {"code": "TGC22", "label": "TGC 22 %", "rate_bp": 2200},
        {"code": "TGC11", "label": "TGC 11 %", "rate_bp": 1100},
        {"code": "TGC6", "label": "TGC 6 %", "rate_bp": 600},
        {"code": "TGC3", "label": "TGC 3 %", "rate_bp": 300},
    ],
    "denominations": XPF_DENOMINATIONS,
    "locale": "fr-NC",
    "timezone": "Pacific/Noumea",
}
WEIGHED_CATEGORIES = [
    ("Textile", "7071"),
    ("Livres", "7072"),
    ("Vaisselle", "7073"),
    ("Mobilier", "7074"),
    ("Jouets", "7075"),
]


@dataclass
class DemoTill:
    pos_id: str
    shop_id: str
    serial: str
    secret: str
    currency: str


@dataclass
class Demo:
    """The ids the demo created, and each till's device credentials (shown once by the API)."""

    admin_token: str
    territories: dict[str, str] = field(default_factory=dict)
    companies: dict[str, str] = field(default_factory=dict)
    shops: dict[str, str] = field(default_factory=dict)
    tills: list[DemoTill] = field(default_factory=list)
    products: dict[str, dict[str, str]] = field(default_factory=dict)
    cashiers: dict[str, str] = field(default_factory=dict)
    """shop id → the id of the shop's demo cashier, who opens and closes its tills' sessions."""

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))
        path.chmod(0o600)

    @classmethod
    def load(cls, path: Path) -> Demo:
        raw = json.loads(path.read_text())
        return cls(**{**raw, "tills": [DemoTill(**t) for t in raw["tills"]]})


class BackOffice:
    def __init__(self, url: str, token: str) -> None:
        self._client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._client.post(f"/v1/{path}", json=body)
        if response.status_code != 201:
            raise RuntimeError(f"POST /v1/{path}: {response.status_code} {response.text}")
        created: dict[str, Any] = response.json()
        return created

    def close(self) -> None:
        self._client.close()


def _catalogue(bo: BackOffice, demo: Demo, company_id: str, prices: dict[str, int], tax: str, tag: str) -> None:
    products: dict[str, str] = {}
    for name, account in WEIGHED_CATEGORIES:
        category = bo.create(
            "categories",
            {
                "company_id": company_id,
                "name": name,
                "revenue_account": account,
                "default_tax_code": tax,
                "sold_by_weight": True,
            },
        )
        products[f"category:{name}"] = category["item"]["id"]
    goods = bo.create(
        "categories",
        {"company_id": company_id, "name": "Produits neufs", "revenue_account": "7070", "default_tax_code": tax},
    )
    workshops = bo.create(
        "categories", {"company_id": company_id, "name": "Ateliers", "revenue_account": "7060", "default_tax_code": tax}
    )
    for name, price in prices.items():
        product = bo.create(
            "products", {"company_id": company_id, "category_id": goods["item"]["id"], "name": name, "price": price}
        )
        products[name] = product["item"]["id"]
    seat = bo.create(
        "products",
        {
            "company_id": company_id,
            "category_id": workshops["item"]["id"],
            "name": "Atelier réparation vélo",
            "kind": "event_seat",
            "price": prices["Sac cabas"] * 5,
            "capacity": 8,
        },
    )
    products["Atelier réparation vélo"] = seat["item"]["id"]
    demo.products[tag] = products


def load(pos_api_url: str, admin_token: str, *, card_terminal_port: int | None = None) -> Demo:
    """Create the demo hierarchy and catalogue through the back-office API; the tills' secrets are kept. With
    `card_terminal_port`, the first till (the demo's hw-proxy) pays by card on the terminal simulator there."""
    bo = BackOffice(pos_api_url, admin_token)
    demo = Demo(admin_token=admin_token)
    try:
        fr = bo.create("territories", FRANCE)["item"]["id"]
        nc = bo.create("territories", NEW_CALEDONIA)["item"]["id"]
        demo.territories = {"FR": fr, "NC": nc}
        bocage = bo.create("companies", {"territory_id": fr, "name": "Ressourcerie du Bocage", "vat_subject": False})[
            "item"
        ]["id"]
        noumea = bo.create("companies", {"territory_id": nc, "name": "Ressourcerie de Nouméa", "vat_subject": True})[
            "item"
        ]["id"]
        demo.companies = {"FR": bocage, "NC": noumea}
        shops = [
            ("Bocage — Bressuire", bocage, "EUR", 2),
            ("Bocage — Cerizay", bocage, "EUR", 2),
            ("Nouméa — Ducos", noumea, "XPF", 1),
        ]
        for n, (name, company, currency, tills) in enumerate(shops, start=1):
            shop = bo.create(
                "shops",
                {
                    "company_id": company,
                    "name": name,
                    "address": f"{n} rue du Réemploi",
                    "receipt_header": f"{name}\nMerci de donner une seconde vie aux objets",
                    "receipt_footer": "Ni repris ni échangé — sauf défaut caché",
                    "report_emails": [f"boutique{n}@ressourcerie.example"],
                    "bank_account": f"FR76 3000 4000 0500 0000 0000 {n:03d}",
                },
            )
            shop_id = shop["item"]["id"]
            demo.shops[name] = shop_id
            cashier = bo.create("operators", {"name": f"Caissier {n}", "role": "cashier", "shop_id": shop_id})
            demo.cashiers[shop_id] = cashier["item"]["id"]
            for t in range(1, tills + 1):
                serial = f"DEMO-{n}-{t}"
                pos = bo.create(
                    "pos",
                    {
                        "shop_id": shop_id,
                        "name": f"Caisse {t}",
                        "hostname": f"caisse-{n}-{t}.local",
                        "device_serial": serial,
                        "pickup_number_required": n == 3 and t == 1,
                        **(
                            {"card_terminal": {"host": "127.0.0.1", "port": card_terminal_port}}
                            if card_terminal_port is not None and n == 1 and t == 1
                            else {}
                        ),
                    },
                )
                demo.tills.append(DemoTill(pos["item"]["id"], shop_id, serial, pos["secret"], currency))
        _catalogue(bo, demo, bocage, {"Sac cabas": 100, "Carte adhérent": 1000, "Ampoule LED": 350}, "TVA20", "FR")
        _catalogue(bo, demo, noumea, {"Sac cabas": 120, "Carte adhérent": 1200, "Ampoule LED": 420}, "TGC22", "NC")
    finally:
        bo.close()
    return demo


def add_tills(
    pos_api_url: str,
    admin_token: str,
    shop_id: str,
    currency: str,
    count: int,
    prefix: str,
    *,
    printer: dict[str, Any] | None = None,
) -> list[DemoTill]:
    """Register `count` more tills in a shop (for load tests), each with `printer` as its receipt printer if given
    (the POS's `printer` field); their secrets are returned once."""
    bo = BackOffice(pos_api_url, admin_token)
    tills = []
    try:
        for n in range(1, count + 1):
            serial = f"{prefix}-{n:03d}"
            pos = bo.create(
                "pos",
                {
                    "shop_id": shop_id,
                    "name": f"Caisse {serial}",
                    "hostname": f"{serial.lower()}.local",
                    "device_serial": serial,
                    **({"printer": printer} if printer is not None else {}),
                },
            )
            tills.append(DemoTill(pos["item"]["id"], shop_id, serial, pos["secret"], currency))
    finally:
        bo.close()
    return tills
