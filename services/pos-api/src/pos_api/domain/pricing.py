"""From what the till chose to what is priced, as pos-api answers it.

The pricing itself is shared with the till (`caisse_contracts.pricing`): the till prices a basket offline exactly
as pos-api does online. Here a basket it refuses becomes pos-api's own `TicketInconsistentError` (a 422
`ticket-inconsistent` naming every field), as before the pricing moved to the contracts.
"""

from __future__ import annotations

from caisse_contracts import pricing
from caisse_contracts.pricing import Catalogue, PricedLine, PricingRefusedError
from caisse_contracts.tills import BasketContent
from pos_api.domain.errors import FieldProblem, TicketInconsistentError


def inconsistent(refused: PricingRefusedError) -> TicketInconsistentError:
    """The contracts' refusal as pos-api's: the same fields, the same reasons."""
    return TicketInconsistentError([FieldProblem(p.field, p.reason) for p in refused.problems])


def price_lines(content: BasketContent, catalogue: Catalogue) -> list[PricedLine]:
    """`caisse_contracts.pricing.price_lines`, refusing with `TicketInconsistentError`."""
    try:
        return pricing.price_lines(content, catalogue)
    except PricingRefusedError as refused:
        raise inconsistent(refused) from None
