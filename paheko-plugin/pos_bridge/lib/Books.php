<?php
// What the books say once Caisse's sync has written a session's entry: the company's own variance accounts
// instead of Caisse's 678/778, the entry's label and analytic project, and the collected VAT moved from the
// revenue accounts to the VAT account in a complementary entry `POS-SESSION-<id>-TVA`. Runs in the close's
// DB transaction: the session is closed, synced and completed together, or not at all.

namespace Paheko\Plugin\Pos_Bridge;

use Paheko\DB;
use Paheko\Entities\Accounting\Line;
use Paheko\Entities\Accounting\Transaction;
use Paheko\Entities\Accounting\Year;
use Paheko\Plugin\Caisse\POS;
use Paheko\Plugin\Caisse\Entities\Session;

class Books
{
	/** Suffix of the complementary entry's reference: `POS-SESSION-<id>-TVA`. */
	const VAT_SUFFIX = '-TVA';

	/** Caisse's label of a variance line ends so ("Espèces — Erreur de caisse"). */
	const VARIANCE_LABEL = 'Erreur de caisse';

	/**
	 * Completes the entry Caisse's sync just wrote for the session; the VAT entry written, if any.
	 */
	static public function complete(Session $session, Year $year, array $request): ?array
	{
		$transaction = $session->getTransaction();

		if (!$transaction) {
			return null;
		}

		$accounts = Store::accounts();
		$ids = $year->accounts();
		$project = isset($request['project']) ? self::project($request['project']) : null;

		self::rewrite($transaction, $accounts, $ids, $request['label'] ?? null, $project);
		$vat = self::vatEntry($session, $transaction, $accounts, $ids, $project);

		return $vat ? self::describe($vat) : null;
	}

	/**
	 * Caisse books a cash variance to 678/778 whatever the company's chart says: its variance lines move to the
	 * company's accounts, so that Paheko, the FEC and the back office book the same. Only the lines Caisse
	 * labels as a variance move (an uncategorised sale's automatic correction stays where Caisse put it).
	 */
	static protected function rewrite(Transaction $transaction, array $accounts, $ids, ?string $label, ?int $project): void
	{
		$moves = [];

		foreach (['variance_shortage' => POS::ERROR_DEBIT_ACCOUNT, 'variance_surplus' => POS::ERROR_CREDIT_ACCOUNT] as $role => $caisse) {
			if (isset($accounts[$role]) && $accounts[$role] !== $caisse) {
				$moves[(int) $ids->getIdFromCode($caisse)] = (int) $ids->getIdFromCode($accounts[$role]);
			}
		}

		foreach ($transaction->getLines() as $line) {
			$is_variance = substr((string) $line->label, -strlen(self::VARIANCE_LABEL)) === self::VARIANCE_LABEL;

			if ($is_variance && isset($moves[$line->id_account])) {
				$line->set('id_account', $moves[$line->id_account]);
			}

			if ($project !== null) {
				$line->set('id_project', $project);
			}
		}

		if ($label !== null) {
			$transaction->set('label', $label);
		}

		$transaction->save();
	}

	/**
	 * The VAT included in the session's items, per revenue account (as Caisse booked them) and rate, moved to the
	 * VAT account: one debit per revenue account and rate, one credit per rate (reference `TVA-<rate in basis
	 * points>`), so that the revenue reads tax excluded and the VAT per rate, as in the FEC.
	 */
	static protected function vatEntry(Session $session, Transaction $transaction, array $accounts, $ids, ?int $project): ?Transaction
	{
		if (!isset($accounts['vat_collected'])) {
			return null;
		}

		$rows = DB::getInstance()->get(sprintf('SELECT ti.account, x.rate_bp, SUM(x.tax) AS tax
			FROM %s x
			INNER JOIN plugin_pos_tabs_items ti ON ti.id = x.id_item
			INNER JOIN plugin_pos_tabs t ON t.id = ti.tab
			WHERE t.session = ?
			GROUP BY ti.account, x.rate_bp
			HAVING SUM(x.tax) != 0
			ORDER BY x.rate_bp, ti.account;', Store::ITEMS_TAXES), $session->id());

		if (!$rows) {
			return null;
		}

		$vat_id = (int) $ids->getIdFromCode($accounts['vat_collected']);
		$per_rate = [];
		$lines = [];

		foreach ($rows as $row) {
			$tax = (int) $row->tax;
			$rate = (int) $row->rate_bp;
			$per_rate[$rate] = ($per_rate[$rate] ?? 0) + $tax;
			$lines[] = self::line((int) $ids->getIdFromCode($row->account), -$tax, sprintf('TVA %s incluse dans les ventes', self::rate($rate)), null, $project);
		}

		foreach ($per_rate as $rate => $tax) {
			if ($tax !== 0) {
				$lines[] = self::line($vat_id, $tax, sprintf('TVA collectée %s', self::rate($rate)), sprintf('TVA-%d', $rate), $project);
			}
		}

		$vat = new Transaction;
		$vat->set('type', Transaction::TYPE_ADVANCED);
		$vat->set('id_year', $transaction->id_year);
		$vat->set('date', $transaction->date);
		$vat->set('reference', $transaction->reference . self::VAT_SUFFIX);
		$vat->set('label', mb_substr('TVA collectée — ' . $transaction->label, 0, 200));

		foreach ($lines as $line) {
			$vat->addLine($line);
		}

		$vat->save();
		return $vat;
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

	/**
	 * "20 %", "5,5 %" from basis points.
	 */
	static public function rate(int $bp): string
	{
		$whole = intdiv($bp, 100);
		$part = $bp % 100;
		return $part ? sprintf('%d,%s %%', $whole, rtrim(sprintf('%02d', $part), '0')) : sprintf('%d %%', $whole);
	}

	/**
	 * The id of the analytic project with this code; 422 when Paheko has none.
	 */
	static public function projectId(string $code): int
	{
		return self::project($code);
	}

	static protected function project(string $code): int
	{
		$id = DB::getInstance()->firstColumn('SELECT id FROM acc_projects WHERE code = ?;', $code);

		if (!$id) {
			throw Problem::invalid('project', sprintf('"%s" is not the code of an analytic project in Paheko', $code));
		}

		return (int) $id;
	}

	/**
	 * An accounting transaction with its lines, as the API answers it.
	 */
	static public function describe(?Transaction $t): ?array
	{
		if (!$t) {
			return null;
		}

		$lines = DB::getInstance()->get('SELECT a.code AS account, l.debit, l.credit, l.label, l.reference, p.code AS project
			FROM acc_transactions_lines l INNER JOIN acc_accounts a ON a.id = l.id_account
			LEFT JOIN acc_projects p ON p.id = l.id_project
			WHERE l.id_transaction = ? ORDER BY l.id;', $t->id());

		return [
			'id' => $t->id(),
			'reference' => $t->reference,
			'date' => $t->date->format('Y-m-d'),
			'label' => $t->label,
			'lines' => array_map(fn ($l) => [
				'account' => $l->account,
				'debit' => (int) $l->debit,
				'credit' => (int) $l->credit,
				'label' => $l->label,
				'reference' => $l->reference,
				'project' => $l->project,
			], $lines),
		];
	}
}
