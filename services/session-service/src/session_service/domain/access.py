"""Who may reach which session: a till its own POS's, an operator the shops of their scope, pos-api everything.

session-service owns neither devices nor operator tokens: pos-api authenticates tills and operators and calls on
their behalf with the service token and the identity it established. A caller scoped like pos-api's back office:
a federation admin sees every shop, a shop manager the shops of their company, a cashier no session data (the
till shows them theirs). Only a till (or pos-api itself) opens, moves cash in and closes a session; the bank deposit is
confirmed by the till or by whoever reads the session's figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from session_service.domain.errors import ForbiddenError, SessionNotFoundError


class CallerKind(StrEnum):
    SERVICE = "service"
    TILL = "till"
    OPERATOR = "operator"


OPERATOR_ROLES = frozenset({"federation_admin", "shop_manager", "cashier"})


@dataclass(frozen=True, slots=True)
class Caller:
    kind: CallerKind
    pos_id: UUID | None = None
    operator_id: UUID | None = None
    role: str | None = None
    shop_id: UUID | None = None
    company_id: UUID | None = None

    @classmethod
    def service(cls) -> Caller:
        return cls(CallerKind.SERVICE)

    @classmethod
    def till(cls, pos_id: UUID) -> Caller:
        return cls(CallerKind.TILL, pos_id=pos_id)

    @classmethod
    def operator(
        cls, operator_id: UUID, role: str, shop_id: UUID | None = None, company_id: UUID | None = None
    ) -> Caller:
        return cls(CallerKind.OPERATOR, operator_id=operator_id, role=role, shop_id=shop_id, company_id=company_id)

    @property
    def pos_scope(self) -> UUID | None:
        """The only POS a till reaches (None for any other caller)."""
        return self.pos_id if self.kind is CallerKind.TILL else None


def check_pos(caller: Caller, pos_id: UUID) -> None:
    """Open a session, or read the current one, of `pos_id`: the till itself or pos-api."""
    if caller.kind is CallerKind.SERVICE:
        return
    if caller.kind is CallerKind.TILL and caller.pos_id == pos_id:
        return
    if caller.kind is CallerKind.TILL:
        raise ForbiddenError(f"a till reaches only its own POS, not {pos_id}")
    raise ForbiddenError("only a till opens or continues its session")


def check_read(caller: Caller, session_id: UUID, pos_id: UUID, shop_id: UUID, company_id: UUID) -> None:
    """Read a session or its documents. A till asking for another POS's session learns nothing of it (404)."""
    match caller.kind:
        case CallerKind.SERVICE:
            return
        case CallerKind.TILL:
            if caller.pos_id != pos_id:
                raise SessionNotFoundError(session_id=session_id)
        case CallerKind.OPERATOR:
            check_shop(caller, shop_id, company_id)


def check_deposit(caller: Caller, session_id: UUID, pos_id: UUID, shop_id: UUID, company_id: UUID) -> None:
    """Confirm a session's bank deposit: its till, a shop manager of its shop (or company), ops, or pos-api; a
    cashier confirms it at the till."""
    check_read(caller, session_id, pos_id, shop_id, company_id)


def check_writer(caller: Caller) -> None:
    """Move cash in, or close, a session: a till (its own POS's only, which the use case checks) or pos-api."""
    if caller.kind is CallerKind.OPERATOR:
        raise ForbiddenError("only the session's till moves cash in or closes a session")


def check_shop(caller: Caller, shop_id: UUID, company_id: UUID | None) -> None:
    """See what belongs to a shop (of `company_id`) as the caller."""
    if caller.kind is CallerKind.SERVICE:
        return
    if caller.kind is CallerKind.TILL:
        raise ForbiddenError("a till reads only its own sessions")
    if caller.role == "federation_admin":
        return
    if caller.role == "shop_manager" and (
        caller.shop_id == shop_id or (company_id is not None and caller.company_id == company_id)
    ):
        return
    if caller.role == "cashier":
        raise ForbiddenError("a cashier reads session figures at the till, not here")
    raise ForbiddenError(f"shop {shop_id} is outside your scope")


def check_all_shops(caller: Caller) -> None:
    """See what belongs to every shop: ops (a federation admin) or pos-api."""
    if caller.kind is CallerKind.SERVICE or caller.role == "federation_admin":
        return
    raise ForbiddenError("name a shop_id or company_id of your scope")


def check_company(caller: Caller, company_id: UUID) -> None:
    """See what belongs to every shop of a company as the caller."""
    if caller.kind is CallerKind.SERVICE or caller.role == "federation_admin":
        return
    if caller.kind is CallerKind.OPERATOR and caller.role == "shop_manager" and caller.company_id == company_id:
        return
    raise ForbiddenError(f"company {company_id} is outside your scope")
