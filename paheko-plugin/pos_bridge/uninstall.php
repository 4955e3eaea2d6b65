<?php
// Drops the bridge's own tables; Caisse's tables and what was written into them stay.

namespace Paheko;

$db = DB::getInstance();

foreach (['plugin_pos_bridge_tickets', 'plugin_pos_bridge_sessions', 'plugin_pos_bridge_mappings', 'plugin_pos_bridge_accounts', 'plugin_pos_bridge_items_taxes', 'plugin_pos_bridge_deposits'] as $table) {
	$db->exec(sprintf('DROP TABLE IF EXISTS %s;', $table));
}
