"""The till agent's rule errors: each names what is wrong; `entrypoints/problems.py` maps them to problem+json."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID


class HwProxyError(Exception):
    """The root of the till agent's rule errors."""


class FieldError(HwProxyError):
    """A value the till refuses: `field` says which (e.g. `counts[2].value`), `reason` why (422)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NotReadyError(HwProxyError):
    """The till cannot do this in its present status (BOOTING, no session open, a session already open…) (409)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class NotFoundError(HwProxyError):
    """The till holds no such thing (404)."""

    def __init__(self, what: str, ident: UUID | str) -> None:
        super().__init__(f"the till holds no {what} {ident}")
        self.what = what


class LoginRefusedError(HwProxyError):
    """A cashier's login refused: unknown here, inactive, wrong PIN, or never logged in online on this till (401)."""


class OperatorLockedError(HwProxyError):
    """Too many wrong PINs in a row: the cashier waits until `until` (429)."""

    def __init__(self, operator_id: UUID, until: datetime) -> None:
        super().__init__(f"operator {operator_id} is locked until {until.isoformat()}")
        self.operator_id = operator_id
        self.until = until


class StaleBasketError(HwProxyError):
    """A basket written from a version that is no longer the latest (409): the till reads it again."""

    def __init__(self, basket_id: UUID, expected: int, current: int) -> None:
        super().__init__(f"basket {basket_id} is at version {current}, not {expected}")
        self.basket_id = basket_id
        self.current = current


class BasketRefusedError(HwProxyError):
    """A basket the till cannot price or sell, every problem named by its field (422), as pos-api would refuse it."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in problems))
        self.problems = problems


class CreditNoteConflictError(HwProxyError):
    """A credit note asked again under an id the till already gave a credit note, for something else (409): each
    differing field named (`lines[0].quantity`, `payments[0].method`…). The one made stands; nothing is written."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in problems))
        self.problems = problems


class PrintJobPrintedError(HwProxyError):
    """A print job already printed is not printed again as such: a receipt again is a duplicate (409)."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"print job {job_id} is printed already: reprint the sale to have a DUPLICATA")
        self.job_id = job_id


class PosApiUnreachableError(HwProxyError):
    """What was asked comes from pos-api, which does not answer now (503): try again once it is back."""


class CardOperationConflictError(HwProxyError):
    """A card operation that cannot be done now (409): another one is pending on the terminal, this one is still
    with the terminal or already settled, or the POS has no card terminal; `reason` says which."""

    def __init__(self, reason: str, operation_id: UUID | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.operation_id = operation_id
