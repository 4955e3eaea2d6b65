<?php
// The bridge's own tables: ticket and session mappings with their stored answers, and the provisioned mappings.

namespace Paheko\Plugin\Pos_Bridge;

use Paheko\DB;

class Store
{
	const TICKETS = 'plugin_pos_bridge_tickets';
	const SESSIONS = 'plugin_pos_bridge_sessions';
	const MAPPINGS = 'plugin_pos_bridge_mappings';
	const ACCOUNTS = 'plugin_pos_bridge_accounts';
	const ITEMS_TAXES = 'plugin_pos_bridge_items_taxes';

	/** @var resource|null */
	static protected $lock = null;

	/**
	 * Opens a DB transaction whose first statement is a write, so that it takes SQLite's write lock at once and
	 * waits for a concurrent writer through the busy timeout, instead of failing later when a read lock would
	 * have to be upgraded. The bridge's own writers first queue on a file lock: the kernel wakes the next one as
	 * soon as the lock is free, where SQLite's busy handler would poll with sleeps of up to 100 ms.
	 */
	static public function begin(): DB
	{
		$path = (defined('Paheko\CACHE_ROOT') ? \Paheko\CACHE_ROOT : sys_get_temp_dir()) . '/pos_bridge.lock';
		$lock = @fopen($path, 'c');

		if ($lock && flock($lock, LOCK_EX)) {
			self::$lock = $lock;
		}

		$db = DB::getInstance();
		$db->begin();
		$db->exec(sprintf('UPDATE %s SET updated = updated WHERE 0;', self::SESSIONS));
		return $db;
	}

	static public function commit(DB $db): void
	{
		try {
			$db->commit();
		}
		finally {
			self::release();
		}
	}

	static public function rollback(DB $db): void
	{
		try {
			if ($db->inTransaction()) {
				$db->rollback();
			}
		}
		finally {
			self::release();
		}
	}

	static protected function release(): void
	{
		if (self::$lock) {
			flock(self::$lock, LOCK_UN);
			fclose(self::$lock);
			self::$lock = null;
		}
	}

	static public function ticket(string $uuid): ?\stdClass
	{
		return DB::getInstance()->first(sprintf('SELECT * FROM %s WHERE uuid = ?;', self::TICKETS), $uuid) ?: null;
	}

	static public function session(string $uuid): ?\stdClass
	{
		return DB::getInstance()->first(sprintf('SELECT * FROM %s WHERE uuid = ?;', self::SESSIONS), $uuid) ?: null;
	}

	static public function countTickets(string $session_uuid): int
	{
		return (int) DB::getInstance()->firstColumn(sprintf('SELECT COUNT(*) FROM %s WHERE session_uuid = ?;', self::TICKETS), $session_uuid);
	}

	/**
	 * The provisioned mappings, with the Caisse names and accounts as they are now.
	 * @return array{category: array<string, \stdClass>, method: array<string, \stdClass>}
	 */
	static public function mappings(): array
	{
		$rows = DB::getInstance()->get(sprintf('SELECT m.*, c.name AS category_name, c.account AS category_account,
				me.name AS method_name, me.account AS method_account, me.type AS method_type, me.enabled AS method_enabled
			FROM %s m
			LEFT JOIN plugin_pos_categories c ON c.id = m.id_category
			LEFT JOIN plugin_pos_methods me ON me.id = m.id_method
			ORDER BY m.kind, m.key;', self::MAPPINGS));
		$out = ['category' => [], 'method' => []];

		foreach ($rows as $row) {
			$out[$row->kind][$row->key] = $row;
		}

		return $out;
	}

	/**
	 * The company's accounts provisioned for the roles Caisse's sync does not know.
	 * @return array<string, string> role → account code
	 */
	static public function accounts(): array
	{
		return DB::getInstance()->getAssoc(sprintf('SELECT role, account FROM %s ORDER BY role;', self::ACCOUNTS));
	}

	static public function decode(?string $json): ?array
	{
		return $json === null ? null : json_decode($json, true);
	}

	static public function encode(array $value): string
	{
		return json_encode($value, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR);
	}
}
