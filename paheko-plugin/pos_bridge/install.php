<?php
// Creates the bridge's tables and the secret that signs its short-lived tokens.

namespace Paheko;

use Paheko\Plugin\Pos_Bridge\Tokens;

$db = DB::getInstance();
$db->exec(file_get_contents(__DIR__ . '/schema.sql'));

if (!$plugin->getConfig('token_secret')) {
	$plugin->setConfigProperty('token_secret', Tokens::newSecret());
	$plugin->save();
}
