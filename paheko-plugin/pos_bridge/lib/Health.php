<?php
// Whether this Paheko can take tickets and sync sessions: versions, Caisse enabled, the open year and its chart,
// accounts Caisse's sync needs but the chart lacks, Caisse categories or methods without account.

namespace Paheko\Plugin\Pos_Bridge;

use Paheko\Config;
use Paheko\DB;
use Paheko\Entities\Plugin;

class Health
{
	static public function report(Plugin $plugin): array
	{
		$db = DB::getInstance();
		$caisse = $db->first('SELECT version, enabled FROM plugins WHERE name = \'caisse\';');
		$caisse_ready = $caisse && $caisse->enabled;
		$year = Accounts::year();
		$missing = [];
		$without = ['categories' => [], 'methods' => []];
		$provisioned = false;

		if ($caisse_ready) {
			$without = Accounts::withoutAccount();
			$provisioned = (bool) $db->firstColumn(sprintf('SELECT COUNT(*) FROM %s;', Store::MAPPINGS));

			if ($year) {
				$missing = Accounts::missing($year, Accounts::needed());
			}
		}

		$described = $year ? Accounts::describe($year) : ['year' => null, 'chart' => null];
		$problems = [];

		if (!$caisse_ready) {
			$problems[] = 'The Caisse extension is not enabled.';
		}

		if (!$year) {
			$problems[] = 'No open accounting year.';
		}

		if ($missing) {
			$problems[] = sprintf('Accounts missing from the chart: %s.', implode(', ', $missing));
		}

		if ($without['categories'] || $without['methods']) {
			$problems[] = sprintf('Caisse categories or methods without account: %s.', implode(', ', array_merge($without['categories'], $without['methods'])));
		}

		if ($caisse_ready && !$provisioned) {
			$problems[] = 'No category or payment method provisioned yet.';
		}

		return [
			'ready' => !$problems,
			'problems' => $problems,
			'plugin_version' => $plugin->version,
			'paheko_version' => \Paheko\paheko_version(),
			'caisse_version' => $caisse->version ?? null,
			'caisse_enabled' => (bool) $caisse_ready,
			'currency' => Config::getInstance()->get('currency'),
			'year' => $described['year'],
			'chart' => $described['chart'],
			'missing_accounts' => $missing,
			'categories_without_account' => $without['categories'],
			'methods_without_account' => $without['methods'],
			'provisioned' => $provisioned,
		];
	}
}
