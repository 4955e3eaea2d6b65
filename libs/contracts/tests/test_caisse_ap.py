"""The Caisse-AP wire format (HARDWARE.md §4): TAG(2) + LEN(3) + VALUE, CZ first; requests and answers built and read
exactly, and every malformed frame refused with the reason and the byte where it goes wrong."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from caisse_contracts.caisse_ap import (
    Action,
    AnswerMode,
    CaisseApError,
    FrameReader,
    PaymentRequest,
    Status,
    TerminalAnswer,
    decode,
    encode,
    slip_text,
)
from caisse_contracts.config import CardAnswerMode, CardTerminalFields, PosFields
from caisse_contracts.money import EUR, XPF, currency


def test_a_debit_of_12_50_eur_is_the_frame_of_the_spec() -> None:
    request = PaymentRequest(amount=1250, currency_numeric=EUR.numeric, till_number=1)
    assert request.encode() == b"CZ0040300CJ012012345678901CA00201CB0041250CD0010CE003978BA0010"


def test_a_refund_in_immediate_mode_says_cd_1_and_ba_1_and_pads_a_tiny_amount() -> None:
    request = PaymentRequest(
        amount=5, currency_numeric=XPF.numeric, action=Action.REFUND, answer_mode=AnswerMode.IMMEDIATE, till_number=12
    )
    fields = decode(request.encode())
    assert (fields["CD"], fields["BA"], fields["CA"], fields["CB"], fields["CE"]) == ("1", "1", "12", "05", "953")


def test_the_iso_4217_numeric_codes_come_from_the_contracts_currency_table() -> None:
    assert (currency("EUR").numeric, currency("XPF").numeric) == (978, 953)


def test_a_request_decoded_by_the_terminal_is_the_request_sent() -> None:
    request = PaymentRequest(amount=999_999_999_999, currency_numeric=978, action=Action.REFUND, till_number=7)
    assert PaymentRequest.of(decode(request.encode())) == request


@pytest.mark.parametrize(
    ("amount", "reason"),
    [(0, "1 to 999999999999"), (-5, "1 to"), (10**12, "1 to"), (12.5, "int of minor units"), (True, "int of minor")],
)
def test_an_amount_outside_12_digits_of_minor_units_is_refused(amount: object, reason: str) -> None:
    with pytest.raises(CaisseApError, match=reason):
        PaymentRequest(amount=amount, currency_numeric=978)  # type: ignore[arg-type]


def test_a_request_missing_a_mandatory_tag_is_refused_naming_it() -> None:
    fields = PaymentRequest(amount=100, currency_numeric=978).fields()
    del fields["CE"]
    with pytest.raises(CaisseApError, match="CE is missing"):
        PaymentRequest.of(fields)


def test_a_success_answer_reads_every_field_and_matches_its_request() -> None:
    request = PaymentRequest(amount=1250, currency_numeric=978)
    frame = (
        b"CZ0040300CA00201CB00800001250CD0010CE003978AE00210AC006123456AA016497010######1234"
        b"AB0042712CI0012CG006424242AI010A000000042"
    )
    answer = TerminalAnswer.of(decode(frame))
    assert answer.status is Status.DONE
    assert (answer.authorisation, answer.masked_pan, answer.expiry, answer.contract, answer.aid) == (
        "123456",
        "497010######1234",
        "2712",
        "424242",
        "A000000042",
    )
    assert answer.contactless
    assert answer.mismatch(request) is None


def test_an_answer_echoing_another_amount_or_till_is_not_the_answer_to_the_request() -> None:
    request = PaymentRequest(amount=1250, currency_numeric=978)
    other = TerminalAnswer(Status.DONE, echo={"CA": "01", "CB": "1251", "CD": "0", "CE": "978"})
    assert other.mismatch(request) == "CB is '1251' in the answer, '1250' in the request"
    till = TerminalAnswer(Status.DONE, echo={"CA": "02"})
    assert till.mismatch(request) == "CA is '02' in the answer, '01' in the request"


def test_an_answer_round_trips_through_its_bytes() -> None:
    answer = TerminalAnswer(Status.NOT_DONE, failure="04", echo={"CA": "01", "CB": "100", "CD": "0", "CE": "978"})
    assert TerminalAnswer.of(decode(answer.encode())) == answer


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", "an empty frame"),
        (b"CJ0040300", "starts with CZ"),
        (b"CZ0040300CA002", "cut short"),
        (b"CZ0040300cA00201", "not two capital letters"),
        (b"CZ0040300CA0x201", "not three digits"),
        (b"CZ0040300CA000", "CA is empty"),
        (b"CZ0040300CA00201CA00202", "CA twice"),
        ("CZ0040300CA002é1".encode(), "ASCII"),
        (b"CZ0040300CA002\x011", "printable"),
    ],
)
def test_a_malformed_frame_is_refused_with_the_reason(frame: bytes, reason: str) -> None:
    with pytest.raises(CaisseApError, match=reason):
        decode(frame)


def test_the_byte_where_a_frame_goes_wrong_is_named() -> None:
    with pytest.raises(CaisseApError) as refused:
        decode(b"CZ0040300CA0x201")
    assert refused.value.offset == 11


def test_an_answer_without_a_status_or_with_an_unknown_one_is_refused() -> None:
    with pytest.raises(CaisseApError, match="AE, the terminal's status, is missing"):
        TerminalAnswer.of({"CZ": "0300"})
    with pytest.raises(CaisseApError, match="not a known status"):
        TerminalAnswer.of({"CZ": "0300", "AE": "99"})


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"CA": "01"}, "starts with CZ"),
        ({"CZ": "0300", "C": "1"}, "not two capital letters"),
        ({"CZ": "0300", "CA": ""}, "1 to 999"),
        ({"CZ": "0300", "CA": "x" * 1000}, "1 to 999"),
        ({"CZ": "0300", "CA": "é"}, "printable"),
    ],
)
def test_fields_that_cannot_be_sent_are_refused_before_any_byte_goes_out(fields: dict[str, str], reason: str) -> None:
    with pytest.raises(CaisseApError, match=reason):
        encode(fields)


def test_the_reader_waits_for_a_message_cut_anywhere_and_splits_an_ack_from_the_final_answer() -> None:
    ack = TerminalAnswer(Status.ACCEPTED, echo={"CA": "01"}).encode()
    final = TerminalAnswer(Status.DONE, authorisation="654321", echo={"CA": "01"}).encode()
    stream = ack + final
    for cut in range(1, len(stream)):
        reader = FrameReader()
        got = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert [m["AE"] for m in got] == ["11", "10"], cut
        assert reader.pending == b""


def test_the_reader_refuses_garbage_at_once() -> None:
    with pytest.raises(CaisseApError, match="HT's length 'TP/' is not three digits"):
        FrameReader().feed(b"HTTP/1.1 200 OK")


def test_a_terminal_reads_a_request_whole_once_its_last_field_is_in() -> None:
    reader = FrameReader(needs=None)
    frame = PaymentRequest(amount=100, currency_numeric=978).encode()
    assert reader.feed(frame[:-1]) == []
    assert reader.feed(frame[-1:]) == [decode(frame)]


def test_the_slip_names_the_operation_the_card_the_authorisation_and_the_amount() -> None:
    request = PaymentRequest(amount=1250, currency_numeric=978)
    answer = TerminalAnswer(
        Status.DONE, authorisation="123456", masked_pan="497010######1234", expiry="2712", read_mode="2"
    )
    slip = slip_text(answer, request, EUR)
    assert slip.splitlines() == [
        "CARTE BANCAIRE",
        "DEBIT",
        "SANS CONTACT",
        "CARTE 497010######1234",
        "EXPIRE FIN 12/27",
        "AUTORISATION 123456",
        "MONTANT 12,50 EUR",
    ]
    refund = PaymentRequest(amount=1200, currency_numeric=953, action=Action.REFUND)
    assert "REMBOURSEMENT" in slip_text(TerminalAnswer(Status.DONE, read_mode="1"), refund, XPF)
    assert slip_text(TerminalAnswer(Status.DONE), refund, XPF).endswith("MONTANT 1200 XPF")


def test_a_pos_card_terminal_defaults_to_port_8888_the_180_s_client_timeout_and_one_answer_at_the_end() -> None:
    terminal = CardTerminalFields(host="192.168.1.50")
    assert (terminal.port, terminal.timeout_s, terminal.answer_mode, terminal.till_number) == (
        8888,
        180.0,
        CardAnswerMode.AT_END,
        1,
    )
    pos = PosFields.model_validate(
        {
            "shop_id": "00000000-0000-4000-8000-000000000003",
            "name": "Caisse 1",
            "hostname": "till-1",
            "device_serial": "TILL-0001",
            "card_terminal": {"host": "tpe.local", "answer_mode": "immediate"},
        }
    )
    assert pos.card_terminal is not None
    assert pos.card_terminal.answer_mode is CardAnswerMode.IMMEDIATE


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"port": 0}, "port"),
        ({"port": 65536}, "port"),
        ({"till_number": 100}, "till_number"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"host": "tpe local"}, "host"),
        ({"answer_mode": "later"}, "answer_mode"),
        ({"pin": "1234"}, "pin"),
    ],
)
def test_a_card_terminal_config_out_of_range_is_refused_naming_the_field(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        CardTerminalFields.model_validate({"host": "tpe.local", **changes})
    assert refused.value.errors()[0]["loc"][0] == field


def test_a_request_amount_of_more_than_12_digits_is_refused_when_read() -> None:
    fields = PaymentRequest(amount=100, currency_numeric=978).fields()
    with pytest.raises(CaisseApError, match="CB: at most 12 digits"):
        PaymentRequest.of({**fields, "CB": "1" * 13})
    with pytest.raises(CaisseApError, match="CD: '2' is neither"):
        PaymentRequest.of({**fields, "CD": "2"})


def test_a_settling_reader_holds_an_answer_ended_at_a_field_boundary_until_flushed() -> None:
    """A terminal may send `AE` in its first write and the rest after: what was read so far ends on a field
    boundary with `AE` in it, yet the answer is not over. Held back, it is taken whole once flushed."""
    split = encode({"CZ": "0300", "AE": "10"}), encode({"CZ": "0300", "AC": "654321"})[9:]
    reader = FrameReader(settle=True)
    assert reader.feed(split[0]) == []
    assert reader.ready
    assert reader.feed(split[1]) == []
    assert reader.flush() == [{"CZ": "0300", "AE": "10", "AC": "654321"}]
    assert (reader.ready, reader.pending) == (False, b"")


def test_a_settling_reader_gives_a_message_followed_by_the_next_at_once() -> None:
    ack = TerminalAnswer(Status.ACCEPTED, echo={"CA": "01"}).encode()
    final = TerminalAnswer(Status.DONE, authorisation="654321", echo={"CA": "01"}).encode()
    reader = FrameReader(settle=True)
    assert [m["AE"] for m in reader.feed(ack + final)] == ["11"]
    assert reader.ready
    assert [m["AE"] for m in reader.flush()] == ["10"]


def test_a_settling_reader_is_not_ready_mid_field_nor_without_the_status() -> None:
    answer = TerminalAnswer(Status.DONE, authorisation="654321").encode()
    reader = FrameReader(settle=True)
    reader.feed(answer[:-1])
    assert (reader.ready, reader.flush()) == (False, [])
    reader.feed(answer[-1:])
    assert reader.ready
    status_later = FrameReader(settle=True)
    status_later.feed(encode({"CZ": "0300", "AC": "654321"}))
    assert not status_later.ready
