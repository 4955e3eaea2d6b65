<?php
// Our cash sessions as Caisse sessions: opened with the opening float (or at the first ticket), closed with the
// counted cash, every tracked payment ticked, then Caisse's own accounting sync, all in one DB transaction.

namespace Paheko\Plugin\Pos_Bridge;

use Paheko\DB;
use Paheko\Plugins;
use Paheko\UserException;
use Paheko\Accounting\Years;
use Paheko\Entities\Accounting\Year;
use Paheko\Plugin\Caisse\POS;
use Paheko\Plugin\Caisse\Sessions;
use KD2\DB\Date;
use Paheko\Plugin\Caisse\Entities\Method;
use Paheko\Plugin\Caisse\Entities\Session;

class CashSessions
{
	/**
	 * The Caisse session of our session, opened now when unknown. Runs inside the caller's transaction.
	 * @param array $cash [['method' => key, 'opening' => int|null], …]
	 * @return array{0: \stdClass, 1: Session, 2: bool} mapping row, Caisse session, whether it was opened now
	 */
	static public function ensureOpen(string $uuid, ?string $label, array $cash, array $mappings, ?\DateTime $opened = null): array
	{
		$floats = self::floats($cash, $mappings);
		$row = Store::session($uuid);

		if ($row) {
			$session = Sessions::get((int) $row->id_session);

			if (!$session) {
				throw new Problem(409, 'session-deleted', 'Caisse session deleted',
					sprintf('Caisse session n°%d of this session was deleted in Paheko.', $row->id_session));
			}

			if ($floats && $session->closed) {
				throw new Problem(409, 'session-closed', 'Session already closed', 'The opening float of a closed session cannot change.');
			}

			foreach ($floats as $id_method => $amount) {
				$balance = $session->balance($id_method);
				$balance->set('open_amount', $amount);
				$balance->save();
			}

			return [$row, $session, false];
		}

		$balances = [];

		// Caisse wants an opening amount for every enabled cash method without location, ours or not.
		foreach (Sessions::listOpeningBalances(null) as $b) {
			$balances[$b->id] = Requests::money($floats[$b->id] ?? 0);
		}

		$session = Sessions::open($label ?? 'Caisse', $balances, null);

		// Caisse dates the opening with the time of the write; the first ticket's sale is nearer the truth, and the
		// close sets the till's own opening time.
		if ($opened) {
			$session->set('opened', $opened);
			$session->save();
		}

		DB::getInstance()->preparedQuery(sprintf('INSERT INTO %s (uuid, id_session) VALUES (?, ?);', Store::SESSIONS), $uuid, $session->id());

		return [Store::session($uuid), $session, true];
	}

	/**
	 * @return array<int, int> Caisse cash method id → amount
	 */
	static protected function floats(array $cash, array $mappings, string $what = 'opening'): array
	{
		$out = [];

		foreach ($cash as $i => $c) {
			$row = $mappings['method'][$c['method']] ?? null;

			if (!$row || $row->method_kind !== 'cash' || !$row->id_method) {
				throw Problem::invalid(sprintf('cash[%d].method', $i), 'is not a provisioned cash method');
			}

			if ($c[$what] !== null) {
				$out[(int) $row->id_method] = $c[$what];
			}
		}

		return $out;
	}

	static public function open(string $uuid, array $request): array
	{
		$mappings = Store::mappings();
		$db = Store::begin();

		try {
			[$row, $session, $created] = self::ensureOpen($uuid, $request['label'], $request['cash'], $mappings);
			Store::commit($db);
		}
		catch (\Throwable $e) {
			Store::rollback($db);
			throw $e;
		}

		return [$created ? 201 : 200, self::describe(Store::session($uuid), Sessions::get($session->id()), $mappings)];
	}

	static public function get(string $uuid): array
	{
		$row = Store::session($uuid);

		if (!$row) {
			throw new Problem(404, 'unknown-session', 'Unknown session', 'No ticket or open request reached this session yet.');
		}

		if ($row->result !== null) {
			return Store::decode($row->result);
		}

		return self::describe($row, Sessions::get((int) $row->id_session), Store::mappings());
	}

	static public function describe(\stdClass $row, ?Session $session, array $mappings, ?array $transaction = null, ?array $vat_transaction = null): array
	{
		$keys = [];

		foreach ($mappings['method'] as $key => $m) {
			$keys[(int) $m->id_method] = (string) $key;
		}

		$balances = [];

		foreach ($session ? $session->listBalances() : [] as $b) {
			$balances[] = [
				'method' => $keys[(int) $b->id] ?? null,
				'caisse_method_id' => (int) $b->id,
				'name' => $b->name,
				'opening' => (int) $b->open_amount,
				'counted' => $b->close_amount === null ? null : (int) $b->close_amount,
				'variance' => $b->error_amount === null ? null : (int) $b->error_amount,
			];
		}

		return [
			'session' => $row->uuid,
			'caisse_session_id' => (int) $row->id_session,
			'status' => $session && $session->closed ? 'closed' : 'open',
			'opened_at' => $session ? $session->opened->format(\DATE_ATOM) : null,
			'closed_at' => $session && $session->closed ? $session->closed->format(\DATE_ATOM) : null,
			'tickets' => Store::countTickets($row->uuid),
			'result' => $session && $session->closed ? (int) $session->result : null,
			'balances' => $balances,
			'transaction' => $transaction,
			'vat_transaction' => $vat_transaction,
			'replayed' => false,
		];
	}

	/**
	 * The accounting transaction of a synced Caisse session, with its lines.
	 */
	static public function transaction(Session $session): ?array
	{
		return Books::describe($session->getTransaction());
	}

	/**
	 * Caisse renders the session report attached to the accounting entry from PLUGIN_ROOT/templates: Paheko does
	 * not define PLUGIN_ROOT for router.php, so point it at Caisse before the sync.
	 */
	static protected function preparePluginRoot(): void
	{
		$caisse = Plugins::getPath('caisse');

		if (!defined('Paheko\PLUGIN_ROOT')) {
			define('Paheko\PLUGIN_ROOT', $caisse);
		}
		elseif (\Paheko\PLUGIN_ROOT !== $caisse) {
			throw new \LogicException('PLUGIN_ROOT already points to another plugin: the sync cannot render its report');
		}
	}

	/**
	 * Caisse's own sync (POS::syncAccounting) of this session. Given the year as it is, Caisse re-derives the lines of
	 * every session closed in the year to find this one, so its cost grows all year long; given an in-memory copy of
	 * the year narrowed to the session's closing day (never saved), it looks at that day only. The entry still belongs
	 * to the real year (same id, same chart), with the POS-SESSION-<id> reference Caisse uses to know it is synced.
	 */
	static protected function sync(Session $session, Year $year): void
	{
		$day = Date::createFromInterface($session->closed);
		// A fresh copy (cloning an entity drops its id): this one is never saved.
		$narrowed = Years::get($year->id());
		$narrowed->set('start_date', $day);
		$narrowed->set('end_date', $day);
		POS::syncAccounting(null, $narrowed, $session->id());
	}

	/**
	 * The stored answer when this session was already closed by the same request, a 409 when by another one.
	 */
	static protected function closedAlready(string $uuid, string $hash): ?array
	{
		$row = Store::session($uuid);

		if (!$row || $row->status !== 'closed') {
			return null;
		}

		if (hash_equals((string) $row->close_hash, $hash)) {
			return [200, array_merge(Store::decode($row->result), ['replayed' => true])];
		}

		throw new Problem(409, 'session-already-closed', 'Session already closed',
			'This session was closed with other figures; the first close stands.', null,
			['stored' => Store::decode($row->result)]);
	}

	static public function close(string $uuid, array $request, string $hash): array
	{
		if ($closed = self::closedAlready($uuid, $hash)) {
			return $closed;
		}

		// The till's close time, in its territory's wall time, dates the close and the entry: a session pushed
		// after an outage across midnight or 31 December books on its own day, in its own year.
		$closed_at = isset($request['closed_at']) ? new \DateTime($request['closed_at']) : new \DateTime;
		$year = Accounts::year($closed_at);

		if (!$year) {
			throw new Problem(409, 'no-accounting-year', 'No open accounting year', sprintf('No open accounting year covers %s.', $closed_at->format('Y-m-d')));
		}

		$without = Accounts::withoutAccount();

		if ($without['categories'] || $without['methods']) {
			throw new Problem(409, 'caisse-without-account', 'Caisse categories or methods without account',
				sprintf('Caisse refuses to sync while these have no account: %s.', implode(', ', array_merge($without['categories'], $without['methods']))),
				null, ['categories_without_account' => $without['categories'], 'methods_without_account' => $without['methods']]);
		}

		$missing = Accounts::missing($year, Accounts::needed());

		if ($missing) {
			throw new Problem(409, 'missing-accounts', 'Accounts missing from the chart',
				sprintf('Caisse needs account(s) %s, missing from the chart of "%s".', implode(', ', $missing), $year->label),
				null, ['missing_accounts' => $missing]);
		}

		$mappings = Store::mappings();
		$counted = self::floats($request['cash'], $mappings, 'counted');
		$openings = self::floats($request['cash'], $mappings, 'opening');
		$db = Store::begin();

		try {
			// A concurrent close of the same session may have won the lock: answer as its replay.
			if ($closed = self::closedAlready($uuid, $hash)) {
				Store::rollback($db);
				return $closed;
			}

			// Counted under the lock: no push of this session can land between the count and the close.
			$received = Store::countTickets($uuid);

			if ($received !== $request['ticket_count']) {
				throw new Problem(409, 'tickets-missing', 'Tickets missing',
					sprintf('The session has %d ticket(s) here but the close says %d: push every ticket first.', $received, $request['ticket_count']),
					'ticket_count', ['expected' => $request['ticket_count'], 'received' => $received]);
			}

			[$row, $session] = self::ensureOpen($uuid, null, [], $mappings);

			if ($session->closed) {
				throw new Problem(409, 'session-closed-in-caisse', 'Session closed in Caisse',
					sprintf('Caisse session n°%d was closed in Paheko itself; close it there or reopen it.', $session->id()));
			}

			foreach ($openings as $id_method => $amount) {
				$balance = $session->balance($id_method);
				$balance->set('open_amount', $amount);
				$balance->save();
			}

			$balances = [];

			foreach ($session->listClosingBalances() as $b) {
				// A cash method we were not told about (not ours) is closed at its expected amount: no variance.
				$amount = $counted[(int) $b->id] ?? (int) $b->expected_total;
				$balances[$b->id] = ['amount' => Requests::money($amount), 'confirm' => 1];
				unset($counted[(int) $b->id]);
			}

			if ($counted) {
				throw Problem::invalid('cash', 'names a cash method that this session has no balance for');
			}

			$checked = array_map(fn ($p) => (int) $p->id, $session->listTrackedPayment());
			$session->close($request['closed_by'], $balances, $checked);

			// Caisse dates the close with the time of the write: the till's own times stand.
			$session = Sessions::get($session->id());
			$session->set('closed', $closed_at);

			if (isset($request['opened_at'])) {
				$session->set('opened', new \DateTime($request['opened_at']));
			}

			if (isset($request['opened_by'])) {
				$session->set('open_user', $request['opened_by']);
			}

			$session->save();

			self::preparePluginRoot();
			$session = Sessions::get($session->id());
			self::sync($session, $year);
			$vat = Books::complete($session, $year, $request);

			$result = self::describe($row, $session, $mappings, self::transaction($session), $vat);
			$db->preparedQuery(sprintf('UPDATE %s SET status = \'closed\', close_hash = ?, result = ?, updated = datetime(\'now\') WHERE uuid = ?;', Store::SESSIONS),
				$hash, Store::encode($result), $uuid);
			Store::commit($db);
		}
		catch (\Throwable $e) {
			Store::rollback($db);
			throw $e;
		}

		return [200, $result];
	}
}
