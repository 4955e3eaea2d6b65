"""The runtime's tables as each migration created them: SQL frozen per revision, never edited.

A service's migration runs `frozen("outbox_1")`, then later revisions by their own names; a change to the outbox
or the inbox is a new file here and a new migration in every service, never an edit of an old file (a test pins
each file's digest). The revisions:

- `inbox_1`: one row per (consumer group, event id) a consumer applied; a redelivery finds it and does nothing.
- `outbox_1`: the transactional outbox and the trigger that wakes the relay.
- `outbox_2_lean`: documents as `json`, not `jsonb` (nothing queries inside them, and `jsonb` made PostgreSQL
  parse every event on insert and print it back on publish); only an event that finds no other waiting wakes
  the relay (a transaction that sends a NOTIFY holds a database-wide lock through its commit, so notifying on
  every event made every sale's commit wait for the one before it).
- `outbox_3_notify_newest`: an event looks for one waiting before it from the newest down; published rows lie
  at the low end of the index of waiting rows until a vacuum, and looking from the oldest up stepped over all
  of them on every sale.

Each `<name>.undo` reverses `<name>` for a downgrade.
"""

from __future__ import annotations

from importlib import resources


def frozen(name: str) -> str:
    """The SQL of revision `name` (a file of this package, `<name>.sql`)."""
    return resources.files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
