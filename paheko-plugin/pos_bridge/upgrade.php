<?php
// Brings the bridge's tables to this version: every statement of schema.sql is idempotent (IF NOT EXISTS),
// later versions add their own steps below, keyed on the version upgraded from.

namespace Paheko;

use Paheko\Plugin\Pos_Bridge\Tokens;

$db = DB::getInstance();
$old_version = $plugin->oldVersion();

// 0.2.0 adds plugin_pos_bridge_accounts and plugin_pos_bridge_items_taxes (created here by schema.sql); a
// Paheko upgraded from 0.1 books variances to 678/778 and no VAT until the bridge provisions the accounts again.
// 0.3.0 adds plugin_pos_bridge_deposits (the bank deposits booked), created here by schema.sql too.
$db->exec(file_get_contents(__DIR__ . '/schema.sql'));

if (!$plugin->getConfig('token_secret')) {
	$plugin->setConfigProperty('token_secret', Tokens::newSecret());
}
