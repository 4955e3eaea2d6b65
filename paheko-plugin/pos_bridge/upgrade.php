<?php
// Brings the bridge's tables to this version: every statement of schema.sql is idempotent (IF NOT EXISTS),
// later versions add their own steps below, keyed on the version upgraded from.

namespace Paheko;

use Paheko\Plugin\Pos_Bridge\Tokens;

$db = DB::getInstance();
$old_version = $plugin->oldVersion();

$db->exec(file_get_contents(__DIR__ . '/schema.sql'));

if (!$plugin->getConfig('token_secret')) {
	$plugin->setConfigProperty('token_secret', Tokens::newSecret());
}
