"""The Caisse-AP wire format: how a till and a French card terminal talk over TCP (HARDWARE.md §4).

A message is ASCII: fields `TAG(2) + LEN(3 digits) + VALUE` one after the other, `CZ` (the protocol version) always
first. The till sends a request (`CJ` Concert id, `CA` till number, `CB` amount in minor units, `CD` debit or
refund, `CE` ISO 4217 numeric currency, `BA` answer mode); the terminal answers with the request's fields echoed and
its result (`AE` status, `AF` the reason of a failure, `AC` authorisation, `AA` masked card number, `AB` expiry,
`CI` contact or contactless, `CG` merchant contract, `AI` the card's AID). With `BA=1` it first acknowledges at once
(`AE=11`), then sends its final answer on the same connection.

Pure functions and data only: the till's client (hw-proxy) and our terminal simulator (`caisse_devices`) both speak
through them, so the two can never disagree on a byte. Every malformed frame is refused with a `CaisseApError`
saying what is wrong and where.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from caisse_contracts.money import Currency, format_major

PROTOCOL_VERSION: Final = "0300"
CONCERT_ID: Final = "012345678901"
"""`CJ`: the Concert protocol id; required by terminals, of no meaning to them over IP (12 digits)."""
MAX_VALUE: Final = 999
MAX_AMOUNT: Final = 999_999_999_999
"""`CB` carries at most 12 digits of minor units."""
CONTACTLESS_READ: Final = "2"

_TAG = re.compile(r"^[A-Z]{2}$")
_DIGITS = re.compile(r"^[0-9]+$")


class CaisseApError(ValueError):
    """A Caisse-AP frame or field that does not follow the protocol: `reason` says what, `offset` where (bytes)."""

    def __init__(self, reason: str, offset: int | None = None) -> None:
        super().__init__(reason if offset is None else f"{reason} (at byte {offset})")
        self.reason = reason
        self.offset = offset


def _printable(value: str) -> bool:
    return all(" " <= ch <= "~" for ch in value)


def encode(fields: Mapping[str, str]) -> bytes:
    """One message's bytes: `CZ` first, then the other fields in the order given."""
    if "CZ" not in fields:
        raise CaisseApError("a message starts with CZ, the protocol version")
    ordered = [("CZ", fields["CZ"]), *((t, v) for t, v in fields.items() if t != "CZ")]
    return b"".join(encode_field(tag, value) for tag, value in ordered)


def encode_field(tag: str, value: str) -> bytes:
    """One field's bytes, `TAG(2) + LEN(3 digits) + VALUE` (a message is its fields one after the other)."""
    if not _TAG.fullmatch(tag):
        raise CaisseApError(f"tag {tag!r} is not two capital letters")
    if not 1 <= len(value) <= MAX_VALUE:
        raise CaisseApError(f"{tag} holds {len(value)} characters, not 1 to {MAX_VALUE}")
    if not _printable(value):
        raise CaisseApError(f"{tag} holds a character that is not printable ASCII")
    return f"{tag}{len(value):03d}{value}".encode("ascii")


def _scan(data: bytes) -> tuple[list[tuple[str, str, int]], int]:
    """The complete fields at the head of `data` (tag, value, offset) and where they end; a last field cut short
    (still on its way) is left out, a malformed one is a `CaisseApError`."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as bad:
        raise CaisseApError("a frame is ASCII", bad.start) from None
    found: list[tuple[str, str, int]] = []
    at = 0
    while len(text) - at >= 2:
        tag = text[at : at + 2]
        if not _TAG.fullmatch(tag):
            raise CaisseApError(f"tag {tag!r} is not two capital letters", at)
        length = text[at + 2 : at + 5]
        if len(length) < 3 and _DIGITS.fullmatch(length + "0"):
            break  # the length is still on its way
        if not _DIGITS.fullmatch(length) or len(length) < 3:
            raise CaisseApError(f"{tag}'s length {length!r} is not three digits", at + 2)
        size = int(length)
        if size == 0:
            raise CaisseApError(f"{tag} is empty", at)
        value = text[at + 5 : at + 5 + size]
        if not _printable(value):
            raise CaisseApError(f"{tag} holds a character that is not printable ASCII", at + 5)
        if len(value) < size:
            break
        found.append((tag, value, at))
        at += 5 + size
    return found, at


def decode(frame: bytes) -> dict[str, str]:
    """One message's fields, in order; `CaisseApError` for a frame that is not exactly one well-formed message."""
    if not frame:
        raise CaisseApError("an empty frame")
    fields, end = _scan(frame)
    if end != len(frame):
        raise CaisseApError("the last field is cut short", end)
    if fields[0][0] != "CZ":
        raise CaisseApError("a message starts with CZ, the protocol version", 0)
    decoded: dict[str, str] = {}
    for tag, value, at in fields:
        if tag in decoded:
            raise CaisseApError(f"{tag} twice in one message", at)
        decoded[tag] = value
    return decoded


@dataclass
class FrameReader:
    """Cuts the bytes read from a socket into messages. The protocol has no frame length: a message ends where the
    next `CZ` begins, or where the bytes read so far end on a field boundary once the message holds `needs` (the
    terminal's status `AE` for a till reading answers; None for a terminal reading requests, sent in one write).

    A field boundary is only a guess at the end: a real terminal may send its answer in several TCP writes, `AE`
    in the first. With `settle`, a message that ends only on such a boundary is held back (`ready` says one is
    there) until the reader has heard nothing more for a quiet interval and calls `flush()`; a message followed by
    the next `CZ` is certain and comes out of `feed()` at once."""

    needs: str | None = "AE"
    settle: bool = False
    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[dict[str, str]]:
        """The complete messages in what was read so far; the rest is kept for the next read."""
        self._buffer.extend(data)
        return self._cut(at_boundary=not self.settle)

    @property
    def ready(self) -> bool:
        """A whole message (holding `needs`) ends where the bytes read so far end: `flush()` would give it."""
        fields, end = _scan(bytes(self._buffer))
        if not fields or end != len(self._buffer):
            return False
        last_message: list[str] = []
        for tag, _, _ in fields:
            last_message = [tag] if tag == "CZ" else [*last_message, tag]
        return self.needs is None or self.needs in last_message

    def flush(self) -> list[dict[str, str]]:
        """The message held back at a field boundary, taken as complete (the sender went quiet, or closed)."""
        return self._cut(at_boundary=True)

    def _cut(self, *, at_boundary: bool) -> list[dict[str, str]]:
        fields, end = _scan(bytes(self._buffer))
        if fields and fields[0][0] != "CZ":
            raise CaisseApError("a message starts with CZ, the protocol version", 0)
        starts = [at for tag, _, at in fields if tag == "CZ"]
        messages: list[dict[str, str]] = []
        consumed = 0
        for n, begin in enumerate(starts):
            last = n + 1 == len(starts)
            stop = end if last else starts[n + 1]
            if last and (not at_boundary or end != len(self._buffer)):
                break  # a field of this message is still on its way, or more may follow after a quiet interval
            message = decode(bytes(self._buffer[begin:stop]))
            if last and self.needs is not None and self.needs not in message:
                break  # a request, or an answer whose status is still to come
            messages.append(message)
            consumed = stop
        del self._buffer[:consumed]
        return messages

    @property
    def pending(self) -> bytes:
        """What was read but is not a complete message yet."""
        return bytes(self._buffer)


class Action(StrEnum):
    """`CD`: what the terminal is asked to do."""

    DEBIT = "0"
    REFUND = "1"


class AnswerMode(StrEnum):
    """`BA`: when the terminal answers."""

    AT_END = "0"
    """One answer, at the end of the transaction."""
    IMMEDIATE = "1"
    """An acknowledgement at once (`AE=11`), then the final answer."""


class Status(StrEnum):
    """`AE`: the terminal's answer."""

    DONE = "10"
    NOT_DONE = "01"
    ACCEPTED = "11"
    """The request is taken into account (the `BA=1` acknowledgement); the final answer follows."""


class Failure(StrEnum):
    """`AF`: why an operation was not done (the codes of the Caisse-AP specification)."""

    UNKNOWN = "00"
    PHONE_CALL = "02"
    FORCED = "03"
    REFUSED = "04"
    FORBIDDEN = "05"
    ABANDONED = "06"
    NOT_COMPLETED = "07"
    TIMED_OUT = "08"
    FORMAT_ERROR = "09"
    SELECTION_ERROR = "10"
    OPERATOR_ABANDON = "11"
    UNKNOWN_ACTION = "12"
    CURRENCY_NOT_SUPPORTED = "13"


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """What the till asks the terminal: an amount in minor units of a currency (ISO 4217 numeric), debited or
    refunded, for the till numbered `till_number`, answered at the end or acknowledged at once."""

    amount: int
    currency_numeric: int
    action: Action = Action.DEBIT
    till_number: int = 1
    answer_mode: AnswerMode = AnswerMode.AT_END
    version: str = PROTOCOL_VERSION
    concert_id: str = CONCERT_ID

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise CaisseApError("CB: the amount is an int of minor units")
        if not 1 <= self.amount <= MAX_AMOUNT:
            raise CaisseApError(f"CB: the amount must be 1 to {MAX_AMOUNT} minor units, not {self.amount}")
        if not 1 <= self.currency_numeric <= 999:
            raise CaisseApError(f"CE: {self.currency_numeric} is not an ISO 4217 numeric code")
        if not 0 <= self.till_number <= 99:
            raise CaisseApError(f"CA: the till number is 0 to 99, not {self.till_number}")
        if not (len(self.version) == 4 and _DIGITS.fullmatch(self.version)):
            raise CaisseApError(f"CZ: the protocol version is four digits, not {self.version!r}")
        if not (len(self.concert_id) == 12 and _DIGITS.fullmatch(self.concert_id)):
            raise CaisseApError(f"CJ: the Concert id is twelve digits, not {self.concert_id!r}")

    def fields(self) -> dict[str, str]:
        return {
            "CZ": self.version,
            "CJ": self.concert_id,
            "CA": f"{self.till_number:02d}",
            "CB": f"{self.amount:02d}",
            "CD": self.action.value,
            "CE": f"{self.currency_numeric:03d}",
            "BA": self.answer_mode.value,
        }

    def encode(self) -> bytes:
        return encode(self.fields())

    @classmethod
    def of(cls, fields: Mapping[str, str]) -> PaymentRequest:
        """The request a terminal received; `CaisseApError` naming the first tag missing or wrong."""
        for tag in ("CZ", "CJ", "CA", "CB", "CD", "CE"):
            if tag not in fields:
                raise CaisseApError(f"{tag} is missing from the request")
        for tag in ("CA", "CB", "CE"):
            if not _DIGITS.fullmatch(fields[tag]):
                raise CaisseApError(f"{tag} is not digits: {fields[tag]!r}")
        if len(fields["CB"]) > 12:
            raise CaisseApError("CB: at most 12 digits")
        try:
            action = Action(fields["CD"])
        except ValueError:
            raise CaisseApError(f"CD: {fields['CD']!r} is neither 0 (debit) nor 1 (refund)") from None
        try:
            mode = AnswerMode(fields.get("BA", "0"))
        except ValueError:
            raise CaisseApError(f"BA: {fields['BA']!r} is neither 0 (at the end) nor 1 (immediate)") from None
        return cls(
            amount=int(fields["CB"]),
            currency_numeric=int(fields["CE"]),
            action=action,
            till_number=int(fields["CA"]),
            answer_mode=mode,
            version=fields["CZ"],
            concert_id=fields["CJ"],
        )


@dataclass(frozen=True, slots=True)
class TerminalAnswer:
    """What the terminal answered: its status, the reason of a failure, and for a transaction done the
    authorisation, the masked card number, the expiry, the read mode, the merchant contract and the card's AID.
    `echo` holds the request's fields as the terminal sent them back (`CA`, `CB`, `CD`, `CE`)."""

    status: Status
    failure: str | None = None
    authorisation: str | None = None
    masked_pan: str | None = None
    expiry: str | None = None
    read_mode: str | None = None
    contract: str | None = None
    aid: str | None = None
    payment_mode: str | None = None
    echo: dict[str, str] = field(default_factory=dict)
    version: str = PROTOCOL_VERSION

    @property
    def contactless(self) -> bool:
        return self.read_mode == CONTACTLESS_READ

    @classmethod
    def of(cls, fields: Mapping[str, str]) -> TerminalAnswer:
        """The answer in a decoded message; `CaisseApError` when its status is missing or unknown."""
        if "AE" not in fields:
            raise CaisseApError("AE, the terminal's status, is missing from the answer")
        try:
            status = Status(fields["AE"])
        except ValueError:
            raise CaisseApError(f"AE: {fields['AE']!r} is not a known status (10, 01, 11)") from None
        return cls(
            status=status,
            failure=fields.get("AF"),
            authorisation=fields.get("AC"),
            masked_pan=fields.get("AA"),
            expiry=fields.get("AB"),
            read_mode=fields.get("CI"),
            contract=fields.get("CG"),
            aid=fields.get("AI"),
            payment_mode=fields.get("CC"),
            echo={t: fields[t] for t in ("CA", "CB", "CD", "CE") if t in fields},
            version=fields.get("CZ", PROTOCOL_VERSION),
        )

    def fields(self) -> dict[str, str]:
        """The answer as our simulator sends it: `CZ`, the request's echo, the result's fields that are set, and the
        status `AE` last, so that a reader which cuts messages at `AE` never cuts one short."""
        out = {"CZ": self.version, **self.echo}
        for tag, value in (
            ("AF", self.failure),
            ("AC", self.authorisation),
            ("AA", self.masked_pan),
            ("AB", self.expiry),
            ("CI", self.read_mode),
            ("CC", self.payment_mode),
            ("CG", self.contract),
            ("AI", self.aid),
        ):
            if value is not None:
                out[tag] = value
        out["AE"] = self.status.value
        return out

    def encode(self) -> bytes:
        return encode(self.fields())

    def mismatch(self, request: PaymentRequest) -> str | None:
        """Why this answer is not the answer to `request` (a field echoed differently), or None. The amount may come
        back padded with zeros."""
        sent = request.fields()
        for tag in ("CA", "CD", "CE"):
            if tag in self.echo and self.echo[tag] != sent[tag]:
                return f"{tag} is {self.echo[tag]!r} in the answer, {sent[tag]!r} in the request"
        if "CB" in self.echo and self.echo["CB"].lstrip("0") != sent["CB"].lstrip("0"):
            return f"CB is {self.echo['CB']!r} in the answer, {sent['CB']!r} in the request"
        return None


def slip_text(answer: TerminalAnswer, request: PaymentRequest, currency: Currency) -> str:
    """The card slip printed with the receipt, built from the answer's fields (Caisse-AP over IP carries no slip of
    its own): the kind of operation, the read mode, the masked card number, the expiry, the authorisation, the
    merchant contract and the amount."""
    lines = ["CARTE BANCAIRE", "DEBIT" if request.action is Action.DEBIT else "REMBOURSEMENT"]
    lines.append("SANS CONTACT" if answer.contactless else "CONTACT")
    if answer.masked_pan:
        lines.append(f"CARTE {answer.masked_pan}")
    if answer.expiry and len(answer.expiry) == 4:
        lines.append(f"EXPIRE FIN {answer.expiry[2:]}/{answer.expiry[:2]}")
    if answer.aid:
        lines.append(f"AID {answer.aid}")
    if answer.contract:
        lines.append(f"CONTRAT {answer.contract}")
    if answer.authorisation:
        lines.append(f"AUTORISATION {answer.authorisation}")
    lines.append(f"MONTANT {format_major(request.amount, currency).replace('.', ',')} {currency.code}")
    return "\n".join(lines)
