"""The ids Caisse makes: UUIDv7 (RFC 9562), whose first 48 bits are the time in milliseconds.

Events, tickets, baskets and the rows that follow a sale are keyed by these ids in B-tree indexes. A random id
(v4) lands each insert on a random page of its index, so a busy database writes a whole page to its WAL on most
inserts once a checkpoint has passed, and keeps the whole index hot in memory. Time-ordered ids land the inserts
of the last minutes side by side on a few pages. The ids stay unguessable enough for keys (74 random bits) and any
UUID a client sends is still accepted: the order is a cost, never a rule.
"""

from uuid import UUID

from uuid_utils.compat import uuid7


def new_id() -> UUID:
    """A new time-ordered id (UUIDv7), as a standard `uuid.UUID`."""
    return uuid7()
