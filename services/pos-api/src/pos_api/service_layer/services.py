"""What every use case of pos-api is handed: its ports and the per-process memory they share.

The composition root (`bootstrap.py`) builds one `Services` per process; the routes and the consumers hand it
to the use cases. Tests build theirs on the fakes (`adapters/memory.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pos_api.service_layer.cache import SaleMemo, TillCache
from pos_api.service_layer.ports import Clock, IdFactory, StreamTokenSigner, UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class Services:
    """pos-api's dependencies: units of work, clock, ids, the stream-token signer, and the till cache and sale memo
    of this process."""

    uow: UnitOfWorkFactory
    clock: Clock
    new_id: IdFactory
    cache: TillCache = field(default_factory=TillCache)
    sales: SaleMemo = field(default_factory=SaleMemo)
    till_steps_uow: UnitOfWorkFactory | None = None
    """The till's work without a transaction around it, each statement atomic on its own; else `uow`."""
    stream_tokens: StreamTokenSigner | None = None
    """Signs the tills' stream tokens; None: pos-api hands out none (no signing key configured)."""

    def till_steps(self) -> UnitOfWork:
        """For a use case whose every write is one guarded statement: no BEGIN and COMMIT round trips, no lock
        held while it computes. A transaction serves the same purpose where there is no leaner one."""
        return self.till_steps_uow() if self.till_steps_uow is not None else self.uow()
