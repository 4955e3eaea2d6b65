"""The till's place and catalogue as parsed from its config cache, kept while the cache stays the same.

A finalize, a basket priced at every keystroke and every print job read the till's place (its POS, shop, company and
territory) and its shop's catalogue. Parsing them from the cached items validates every product of the catalogue;
the store hands out the same items object until the config changes (`LocalStore.items`), so the views made from one
object are kept and made again only from a new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hw_proxy.domain.config_cache import CachedItem
from hw_proxy.domain.selling import Selling
from hw_proxy.domain.till_status import Place, place_of


@dataclass
class ConfigViews:
    """The views of the last items seen (by identity): the place for a serial and the selling of that place."""

    _items: Sequence[CachedItem] | None = None
    _serial: str | None = None
    _place: Place | None = None
    _selling: Selling | None = None

    def _seen(self, items: Sequence[CachedItem]) -> None:
        if items is not self._items:
            self._items, self._serial, self._place, self._selling = items, None, None, None

    def place(self, items: Sequence[CachedItem], serial: str) -> Place | None:
        """`place_of(items, serial)`, parsed once for these items."""
        self._seen(items)
        if self._serial != serial:
            self._serial, self._place, self._selling = serial, place_of(items, serial), None
        return self._place

    def selling(self, items: Sequence[CachedItem], place: Place) -> Selling:
        """`Selling.of(place, items)`, made once for these items and this place."""
        self._seen(items)
        if self._selling is None or self._selling.place != place:
            self._selling = Selling.of(place, items)
        return self._selling
