<?php
// Which account codes exist in an accounting year's chart, and which ones Caisse's sync would miss.

namespace Paheko\Plugin\Pos_Bridge;

use Paheko\DB;
use Paheko\Accounting\Years;
use Paheko\Entities\Accounting\Year;
use Paheko\Plugin\Caisse\POS;
use KD2\DB\Date;

class Accounts
{
	/**
	 * The open year covering $date (today by default), else the open year Paheko treats as current.
	 */
	static public function year(?\DateTimeInterface $date = null): ?Year
	{
		// A date without time: bound as "Y-m-d", so that the year's last day still matches end_date.
		$day = Date::createFromInterface($date ?? new \DateTime);
		$id = Years::getMatchingOpenYearId($day);

		if ($id) {
			return Years::get((int) $id);
		}

		return $date === null ? Years::getCurrentOpenYear() : null;
	}

	/**
	 * @param string[] $codes
	 * @return string[] the codes that are not in the year's chart, sorted
	 */
	static public function missing(Year $year, array $codes): array
	{
		$codes = array_values(array_unique(array_filter($codes, fn ($c) => $c !== null && $c !== '')));

		if (!$codes) {
			return [];
		}

		$db = DB::getInstance();
		$found = $db->getAssoc(sprintf('SELECT code, code FROM acc_accounts WHERE id_chart = ? AND %s;',
			$db->where('code', $codes)), $year->id_chart);
		$missing = array_values(array_diff($codes, array_keys($found)));
		sort($missing, SORT_STRING);
		return $missing;
	}

	/**
	 * Every account code Caisse's sync needs: the error accounts and the account of every Caisse category and
	 * method (all of them: the sync refuses when any one lacks an account, used or not).
	 */
	static public function needed(): array
	{
		$db = DB::getInstance();
		$codes = [POS::ERROR_DEBIT_ACCOUNT, POS::ERROR_CREDIT_ACCOUNT];
		$codes = array_merge($codes, $db->getAssoc('SELECT account, account FROM plugin_pos_categories WHERE account IS NOT NULL;'));
		$codes = array_merge($codes, $db->getAssoc('SELECT account, account FROM plugin_pos_methods WHERE account IS NOT NULL;'));
		$codes = array_merge($codes, array_values(Store::accounts()));
		return array_values(array_unique($codes));
	}

	/**
	 * Names of Caisse categories and methods without any account: their presence blocks every sync.
	 */
	static public function withoutAccount(): array
	{
		$db = DB::getInstance();
		return [
			'categories' => array_values($db->getAssoc('SELECT id, name FROM plugin_pos_categories WHERE account IS NULL OR account = \'\' ORDER BY name;')),
			'methods'    => array_values($db->getAssoc('SELECT id, name FROM plugin_pos_methods WHERE account IS NULL OR account = \'\' ORDER BY name;')),
		];
	}

	static public function describe(Year $year): array
	{
		$chart = $year->chart();
		return [
			'year'  => ['id' => $year->id(), 'label' => $year->label, 'start_date' => $year->start_date->format('Y-m-d'), 'end_date' => $year->end_date->format('Y-m-d')],
			'chart' => $chart ? ['id' => $chart->id(), 'code' => $chart->code, 'label' => $chart->label] : null,
		];
	}
}
