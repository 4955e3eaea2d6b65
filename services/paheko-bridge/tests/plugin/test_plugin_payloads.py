"""What the plugin is sent for our events: the committed example ticket and session close, other currencies,
cash rounding, references, prices before tax; every payload also passes the written contract."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from jsonschema import Draft202012Validator
from pos_bridge_fake import contract, contract_errors
from pydantic import BaseModel

from caisse_contracts.config import AccountMapping, Category
from caisse_contracts.events import (
    PaymentMethod,
    PaymentV1,
    SessionClosedV1,
    SessionDepositConfirmedV1,
    TicketFinalizedV1,
    TicketKind,
)
from caisse_contracts.snapshots import load_example
from paheko_bridge.adapters.paheko.models import (
    DepositLine,
    DepositRequest,
    ProvisioningRequest,
    SessionCloseRequest,
    SessionOpenRequest,
    TicketLine,
    TicketPayment,
    TicketPush,
)
from paheko_bridge.adapters.paheko.payloads import (
    ROUNDING_CATEGORY,
    deposit_request,
    paheko_scale,
    provisioning_request,
    session_close,
    session_label,
    ticket_push,
)


def example_ticket(**changes: object) -> TicketFinalizedV1:
    """The committed example: an 8.00 € coat (1,250 g) and a 2.00 € book (180 g), 10.00 € paid in cash."""
    return load_example(TicketFinalizedV1).data.model_copy(update=changes)


def example_close(**changes: object) -> SessionClosedV1:
    """The committed example: tickets 101 to 142, float 150.00 €, 533.50 € counted for 534.50 € expected."""
    return load_example(SessionClosedV1).data.model_copy(update=changes)


def test_the_example_ticket_becomes_one_line_per_line_and_one_payment_per_tender() -> None:
    ticket = example_ticket()
    push = ticket_push(ticket, label="Caisse 1")
    assert push.session == ticket.session_id
    assert push.number == 127
    assert push.kind == "sale"
    assert [(line.category, line.quantity, line.unit_price, line.total, line.weight_grams) for line in push.lines] == [
        ("4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a708", 1, 800, 800, 1250),
        ("6a7b8c9d-0e1f-4a2b-b3c4-d5e6f7a8b909", 1, 200, 200, 180),
    ]
    assert [(p.method, p.amount, p.reference) for p in push.payments] == [("cash", 1000, None)]
    assert contract_errors("TicketPush", push.model_dump(mode="json")) == []


def test_amounts_of_a_currency_without_decimals_are_sent_in_hundredths() -> None:
    assert paheko_scale("EUR") == 1
    assert paheko_scale("XPF") == 100
    push = ticket_push(example_ticket(currency="XPF"))
    assert [line.total for line in push.lines] == [80_000, 20_000]
    assert push.payments[0].amount == 100_000


def test_cash_rounding_travels_as_a_line_of_the_rounding_category_so_payments_add_up() -> None:
    """XPF rounds cash to 5 francs: 998 F due, 1,000 F paid, rounding +2 F (PRODUCT.md, cash rounding)."""
    base = example_ticket(currency="XPF")
    lines = (base.lines[0].model_copy(update={"unit_price": 798, "total_incl_tax": 798}), base.lines[1])
    ticket = base.model_copy(update={"lines": lines, "total_incl_tax": 998, "cash_rounding": 2})
    push = ticket_push(ticket)
    rounding = push.lines[-1]
    assert (rounding.category, rounding.total) == (ROUNDING_CATEGORY, 200)
    assert sum(line.total for line in push.lines) == sum(p.amount for p in push.payments) == 100_000


def test_a_reference_is_kept_on_a_cheque_and_dropped_on_cash() -> None:
    payments = (
        PaymentV1(payment_id=uuid.uuid4(), method=PaymentMethod.CASH, amount=400, reference="ignored"),
        PaymentV1(payment_id=uuid.uuid4(), method=PaymentMethod.CHEQUE, amount=600, reference="CHQ-0042"),
    )
    push = ticket_push(example_ticket(payments=payments))
    assert [(p.method, p.reference) for p in push.payments] == [("cash", None), ("cheque", "CHQ-0042")]


def test_a_credit_note_is_pushed_as_such_with_negative_quantities_and_refund() -> None:
    sale = example_ticket()
    lines = tuple(
        line.model_copy(update={"quantity": -1, "total_incl_tax": -line.total_incl_tax, "weight_grams": None})
        for line in sale.lines
    )
    refund = (PaymentV1(payment_id=uuid.uuid4(), method=PaymentMethod.CASH, amount=-1000),)
    push = ticket_push(sale.model_copy(update={"kind": TicketKind.CREDIT_NOTE, "lines": lines, "payments": refund}))
    assert push.kind == "credit_note"
    assert [(line.quantity, line.total) for line in push.lines] == [(-1, -800), (-1, -200)]
    assert contract_errors("TicketPush", push.model_dump(mode="json")) == []


def test_a_line_priced_before_tax_is_sent_with_what_the_customer_paid() -> None:
    ticket = example_ticket(prices_include_tax=False)
    coat = ticket.lines[0].model_copy(update={"unit_price": 667, "quantity": 1})
    plates = ticket.lines[1].model_copy(update={"unit_price": 63, "quantity": 3, "total_incl_tax": 200})
    push = ticket_push(ticket.model_copy(update={"lines": (coat, plates)}))
    assert [(line.quantity, line.unit_price, line.total) for line in push.lines] == [(1, 800, 800), (1, 200, 200)]
    assert push.lines[1].label == "Livre de poche (× 3)"


def test_the_example_close_counts_every_numbered_ticket_and_the_counted_cash() -> None:
    close = session_close(example_close(), closed_by="Camille")
    assert close.ticket_count == 42
    [cash] = close.cash
    assert (cash.method, cash.counted, cash.opening) == ("cash", 53_350, 15_000)
    assert contract_errors("SessionCloseRequest", close.model_dump(mode="json")) == []


def test_cash_added_or_withdrawn_during_the_session_shifts_the_count_so_caisse_finds_our_variance() -> None:
    """Caisse expects float + cash payments; ours also has 20.00 € added and 5.00 € withdrawn."""
    closed = example_close(cash_added=2000, cash_withdrawn=500, counted_cash=53_350 + 2000 - 500)
    [cash] = session_close(closed).cash
    assert cash.counted == 53_350


def test_a_session_without_ticket_closes_with_a_count_of_zero() -> None:
    assert session_close(example_close(first_ticket_number=None, last_ticket_number=None)).ticket_count == 0


def test_provisioning_maps_every_category_and_our_four_methods_to_the_company_accounts() -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    category = Category(
        id=uuid.UUID("4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a708"),
        version=1,
        updated_at=now,
        company_id=uuid.uuid4(),
        name="Textile",
        revenue_account="707",
        default_tax_code="TVA20",
    )
    request = provisioning_request([category], AccountMapping())
    assert [(c.key, c.account) for c in request.categories] == [
        ("4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a708", "707"),
        (ROUNDING_CATEGORY, "658"),
    ]
    assert [(m.key, m.kind, m.account) for m in request.methods] == [
        ("cash", "cash", "530"),
        ("cheque", "tracked", "5112"),
        ("card", "tracked", "5115"),
        ("voucher", "tracked", "4191"),
    ]
    assert contract_errors("ProvisioningRequest", request.model_dump(mode="json")) == []


def test_a_currency_with_more_than_two_decimals_is_refused() -> None:
    with pytest.raises(KeyError):
        paheko_scale("BHD")


def test_every_schema_of_the_written_contract_is_valid_json_schema() -> None:
    schemas = contract()["components"]["schemas"]
    assert {"TicketPush", "TicketResult", "SessionCloseRequest", "SessionState", "Health", "Problem"} <= set(schemas)
    for name, schema in schemas.items():
        Draft202012Validator.check_schema(schema)
        assert schema, name


def test_the_python_models_and_the_contract_name_the_same_request_fields() -> None:
    """A field added on one side only would be refused by the other: the plugin forbids unknown fields."""
    pairs: dict[str, type[BaseModel]] = {
        "TicketPush": TicketPush,
        "TicketLine": TicketLine,
        "TicketPayment": TicketPayment,
        "SessionCloseRequest": SessionCloseRequest,
        "SessionOpenRequest": SessionOpenRequest,
        "ProvisioningRequest": ProvisioningRequest,
        "DepositRequest": DepositRequest,
    }
    schemas = contract()["components"]["schemas"]
    for name, model in pairs.items():
        assert set(schemas[name]["properties"]) == set(model.model_fields), name


def test_a_sale_at_2350_on_31_december_in_noumea_is_sent_at_that_wall_time_whenever_it_is_pushed() -> None:
    """Paheko's dates are local-time strings: the push carries the sale in the territory's time zone (UTC+11)."""
    sold = example_ticket(finalized_at=datetime(2026, 12, 31, 12, 50, tzinfo=UTC))
    push = ticket_push(sold, timezone="Pacific/Noumea")
    assert push.finalized_at.isoformat() == "2026-12-31T23:50:00+11:00"
    assert contract_errors("TicketPush", push.model_dump(mode="json")) == []


def test_a_close_carries_the_till_s_opening_and_close_in_the_territory_s_time_zone() -> None:
    closed = example_close(
        opened_at=datetime(2026, 12, 31, 22, 50, tzinfo=UTC), closed_at=datetime(2027, 1, 1, 0, 10, tzinfo=UTC)
    )
    close = session_close(closed, timezone="Europe/Paris")
    assert close.opened_at is not None
    assert close.closed_at is not None
    assert (close.opened_at.isoformat(), close.closed_at.isoformat()) == (
        "2026-12-31T23:50:00+01:00",
        "2027-01-01T01:10:00+01:00",
    )
    assert contract_errors("SessionCloseRequest", close.model_dump(mode="json")) == []


def test_a_vat_subject_company_s_lines_carry_the_vat_they_include_and_others_none() -> None:
    ticket = example_ticket()
    with_vat = ticket_push(ticket, vat_subject=True)
    assert [(line.total, line.tax, line.tax_rate_bp) for line in with_vat.lines] == [(800, 133, 2000), (200, 10, 550)]
    assert contract_errors("TicketPush", with_vat.model_dump(mode="json")) == []
    assert {(line.tax, line.tax_rate_bp) for line in ticket_push(ticket).lines} == {(None, None)}


def test_provisioning_names_the_company_s_variance_accounts_and_its_vat_account_when_vat_subject() -> None:
    mapping = AccountMapping(variance_shortage="6581", variance_surplus="7581", vat_collected="445711")
    plain = provisioning_request([], mapping).accounts
    subject = provisioning_request([], mapping, vat_subject=True).accounts
    assert plain is not None
    assert subject is not None
    assert (plain.variance_shortage, plain.variance_surplus, plain.vat_collected) == ("6581", "7581", None)
    assert subject.vat_collected == "445711"
    assert contract_errors("ProvisioningRequest", provisioning_request([], mapping).model_dump(mode="json")) == []


def test_a_cheque_s_bank_travels_in_its_reference_and_card_payments_can_make_one_batch_line() -> None:
    ticket = example_ticket()
    cheque = ticket.payments[0].model_copy(
        update={
            "method": PaymentMethod.CHEQUE,
            "amount": 600,
            "tendered": None,
            "reference": "0007788",
            "bank": "La Poste",
        }
    )
    card = cheque.model_copy(
        update={
            "payment_id": uuid.uuid4(),
            "method": PaymentMethod.CARD,
            "amount": 400,
            "reference": "AUTH77",
            "bank": None,
        }
    )
    paid = ticket.model_copy(update={"payments": (cheque, card), "change_given": 0})
    assert [p.reference for p in ticket_push(paid).payments] == ["0007788 — La Poste", "AUTH77"]
    assert [p.reference for p in ticket_push(paid, card_batches=True).payments] == ["0007788 — La Poste", None]


def test_a_session_s_entry_is_labelled_with_the_shop_the_till_and_the_local_day_of_its_close() -> None:
    late = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # 1 January already in Paris
    assert session_label("Boutique du centre", "Caisse 2", late, "Europe/Paris") == (
        "Boutique du centre — Caisse 2 — 01/01/2027"
    )
    assert session_label(None, "Caisse 2", late, "UTC") == "Caisse 2 — 31/12/2026"


def test_a_deposit_debits_the_company_s_bank_and_credits_its_cash_and_each_cheque_in_hundredths() -> None:
    deposit = load_example(SessionDepositConfirmedV1).data
    accounts = AccountMapping(bank="5121", cash="531")
    request = deposit_request(deposit, accounts, label="Boutique — Caisse 2 — 21/11/2026 — Remise BR-2026-0457")
    assert (request.session, request.date, request.reference) == (
        deposit.session_id,
        deposit.deposited_on,
        "BR-2026-0457",
    )
    assert request.bank_account == "5121"
    assert request.lines == (
        DepositLine(account="531", amount=38350, label="Espèces"),
        DepositLine(account="5112", amount=2500, label="Chèque n°0001234 — Crédit Mutuel", reference="0001234"),
        DepositLine(account="5112", amount=2000, label="Chèque n°7654321 — La Banque Postale", reference="7654321"),
    )
    francs = deposit.model_copy(update={"currency": "XPF", "cash": 1005, "cheques": ()})
    assert [line.amount for line in deposit_request(francs, accounts).lines] == [100500]
    errors = contract_errors("DepositRequest", request.model_dump(mode="json"))
    assert errors == []
