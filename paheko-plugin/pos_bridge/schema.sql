-- The bridge's own tables. Caisse's tables (plugin_pos_*) are only written through Caisse's classes.

-- One row per ticket pushed: our ticket UUID, the hash of the payload first accepted, and the result answered,
-- so that a replay answers the same result and writes nothing, and other content under the same UUID is refused.
CREATE TABLE IF NOT EXISTS plugin_pos_bridge_tickets (
	uuid TEXT NOT NULL PRIMARY KEY,
	hash TEXT NOT NULL,
	session_uuid TEXT NOT NULL,
	id_session INTEGER NOT NULL,
	id_tab INTEGER NULL,
	result TEXT NOT NULL,
	created TEXT NOT NULL DEFAULT (datetime('now'))
);

CREATE INDEX IF NOT EXISTS plugin_pos_bridge_tickets_session ON plugin_pos_bridge_tickets (session_uuid);

-- Our cash session → the Caisse session; the close request's hash and result once closed and synced.
CREATE TABLE IF NOT EXISTS plugin_pos_bridge_sessions (
	uuid TEXT NOT NULL PRIMARY KEY,
	id_session INTEGER NOT NULL UNIQUE,
	status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
	close_hash TEXT NULL,
	result TEXT NULL,
	created TEXT NOT NULL DEFAULT (datetime('now')),
	updated TEXT NOT NULL DEFAULT (datetime('now'))
);

-- Our categories and payment methods → the Caisse category (with its one free-priced product) or method.
CREATE TABLE IF NOT EXISTS plugin_pos_bridge_mappings (
	kind TEXT NOT NULL CHECK (kind IN ('category', 'method')),
	key TEXT NOT NULL,
	id_category INTEGER NULL,
	id_product INTEGER NULL,
	id_method INTEGER NULL,
	method_kind TEXT NULL CHECK (method_kind IS NULL OR method_kind IN ('cash', 'tracked')),
	account TEXT NOT NULL,
	PRIMARY KEY (kind, key)
);

-- The company's accounts that Caisse's sync does not take, from provisioning: where the cash variances it books
-- to 678/778 belong, and where the collected VAT goes.
CREATE TABLE IF NOT EXISTS plugin_pos_bridge_accounts (
	role TEXT NOT NULL PRIMARY KEY CHECK (role IN ('variance_shortage', 'variance_surplus', 'vat_collected')),
	account TEXT NOT NULL
);

-- The VAT included in each tab item written from a VAT-subject company's ticket (Caisse's items hold no tax):
-- at close, summed per revenue account and rate into the session's VAT entry.
CREATE TABLE IF NOT EXISTS plugin_pos_bridge_items_taxes (
	id_item INTEGER NOT NULL PRIMARY KEY,
	id_session INTEGER NOT NULL,
	rate_bp INTEGER NOT NULL,
	tax INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS plugin_pos_bridge_items_taxes_session ON plugin_pos_bridge_items_taxes (id_session);

-- One row per bank deposit booked: our deposit UUID, the hash of the request first accepted and the answer, so that
-- a replay answers the same entry and writes nothing.
CREATE TABLE IF NOT EXISTS plugin_pos_bridge_deposits (
	uuid TEXT NOT NULL PRIMARY KEY,
	hash TEXT NOT NULL,
	id_session INTEGER NOT NULL,
	id_transaction INTEGER NOT NULL,
	result TEXT NOT NULL,
	created TEXT NOT NULL DEFAULT (datetime('now'))
);
