<?php
// A session's bank deposit, booked when its slip is confirmed: one advanced entry `POS-DEPOSIT-<Caisse session>`
// on the day of the deposit, the bank debited with the slip's total, the cash and each cheque credited (Caisse
// books none: its cheques and cash stay on 5112/530). Written through Paheko's own classes, once per deposit:
// a replay answers the first result and writes nothing.

namespace Paheko\Plugin\Pos_Bridge;

use Paheko\DB;
use Paheko\Entities\Accounting\Line;
use Paheko\Entities\Accounting\Transaction;

class Deposits
{
	const TABLE = 'plugin_pos_bridge_deposits';

	/** Prefix of the entry's reference, followed by the Caisse session's id. */
	const REFERENCE = 'POS-DEPOSIT-';

	static protected function stored(string $uuid, string $hash): ?array
	{
		$row = DB::getInstance()->first(sprintf('SELECT * FROM %s WHERE uuid = ?;', self::TABLE), $uuid);

		if (!$row) {
			return null;
		}

		if (hash_equals((string) $row->hash, $hash)) {
			return [200, array_merge(Store::decode($row->result), ['replayed' => true])];
		}

		throw new Problem(409, 'deposit-conflict', 'Deposit already booked',
			'This deposit was booked with other figures; the first one stands.', null,
			['stored' => Store::decode($row->result)]);
	}

	static public function book(string $uuid, array $request, string $hash): array
	{
		if ($stored = self::stored($uuid, $hash)) {
			return $stored;
		}

		$session = Store::session($request['session']);

		if (!$session) {
			throw new Problem(404, 'unknown-session', 'Unknown session', 'No ticket or open request reached this session.', 'session');
		}

		if ($session->status !== 'closed') {
			throw new Problem(409, 'session-not-closed', 'Session not closed', 'A session is deposited once it is closed and synced.', 'session');
		}

		$date = new \DateTime($request['date']);
		$year = Accounts::year($date);

		if (!$year) {
			throw new Problem(409, 'no-accounting-year', 'No open accounting year', sprintf('No open accounting year covers %s.', $date->format('Y-m-d')), 'date');
		}

		$codes = array_merge([$request['bank_account']], array_column($request['lines'], 'account'));
		$missing = Accounts::missing($year, $codes);

		if ($missing) {
			throw new Problem(409, 'missing-accounts', 'Accounts missing from the chart',
				sprintf('The deposit needs account(s) %s, missing from the chart of "%s".', implode(', ', $missing), $year->label),
				null, ['missing_accounts' => $missing]);
		}

		$project = isset($request['project']) ? Books::projectId($request['project']) : null;
		$ids = $year->accounts();
		$db = Store::begin();

		try {
			// A concurrent push of the same deposit may have won the lock: answer as its replay.
			if ($stored = self::stored($uuid, $hash)) {
				Store::rollback($db);
				return $stored;
			}

			$transaction = new Transaction;
			$transaction->set('type', Transaction::TYPE_ADVANCED);
			$transaction->set('id_year', $year->id());
			$transaction->set('date', $date);
			$transaction->set('reference', self::REFERENCE . (int) $session->id_session);
			$transaction->set('label', $request['label'] ?? sprintf('Remise en banque %s', $request['reference']));
			$total = array_sum(array_column($request['lines'], 'amount'));
			$transaction->addLine(self::line((int) $ids->getIdFromCode($request['bank_account']), -$total,
				sprintf('Remise %s', $request['reference']), $request['reference'], $project));

			foreach ($request['lines'] as $line) {
				$transaction->addLine(self::line((int) $ids->getIdFromCode($line['account']), $line['amount'],
					$line['label'], $line['reference'] ?? null, $project));
			}

			$transaction->save();
			$result = [
				'deposit' => $uuid,
				'session' => $request['session'],
				'caisse_session_id' => (int) $session->id_session,
				'transaction' => Books::describe($transaction),
				'replayed' => false,
			];
			$db->preparedQuery(sprintf('INSERT INTO %s (uuid, hash, id_session, id_transaction, result) VALUES (?, ?, ?, ?, ?);', self::TABLE),
				$uuid, $hash, (int) $session->id_session, $transaction->id(), Store::encode($result));
			Store::commit($db);
		}
		catch (\Throwable $e) {
			Store::rollback($db);
			throw $e;
		}

		return [201, $result];
	}

	/**
	 * A line of `$amount` (> 0 a credit, < 0 a debit).
	 */
	static protected function line(int $id_account, int $amount, string $label, ?string $reference, ?int $project): Line
	{
		$line = Line::create($id_account, max($amount, 0), max(-$amount, 0), $label, $reference);

		if ($project !== null) {
			$line->set('id_project', $project);
		}

		return $line;
	}
}
