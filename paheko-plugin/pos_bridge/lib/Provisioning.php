<?php
// Our categories and payment methods, mapped to Caisse ones created (or updated) with the company's accounts.
// Each category gets one free-priced product that every tab item of that category points to, linked to every
// mapped payment method: Caisse only lets a method pay for products linked to it.

namespace Paheko\Plugin\Pos_Bridge;

use Paheko\DB;
use Paheko\Plugin\Caisse\Categories;
use Paheko\Plugin\Caisse\Methods;
use Paheko\Plugin\Caisse\Products;
use Paheko\Plugin\Caisse\POS;
use Paheko\Plugin\Caisse\Entities\Category;
use Paheko\Plugin\Caisse\Entities\Method;
use Paheko\Plugin\Caisse\Entities\Product;

class Provisioning
{
	/**
	 * A 422 naming every account missing from the year's chart, and the first field that uses one.
	 */
	static public function checkAccounts(array $request): void
	{
		$year = Accounts::year();

		if (!$year) {
			throw new Problem(409, 'no-accounting-year', 'No open accounting year', 'Paheko has no open accounting year: create one before provisioning.');
		}

		$fields = [POS::ERROR_DEBIT_ACCOUNT => null, POS::ERROR_CREDIT_ACCOUNT => null];

		foreach (['categories', 'methods'] as $list) {
			foreach ($request[$list] as $i => $item) {
				$fields[$item['account']] ??= sprintf('%s[%d].account', $list, $i);
			}
		}

		foreach ($request['accounts'] ?? [] as $role => $code) {
			$fields[$code] ??= 'accounts.' . $role;
		}

		$missing = Accounts::missing($year, array_map('strval', array_keys($fields)));

		if ($missing) {
			throw new Problem(422, 'missing-accounts', 'Accounts missing from the chart',
				sprintf('Account%s %s %s not in the chart of "%s" (%s): create %s in Paheko first.',
					count($missing) > 1 ? 's' : '', implode(', ', $missing), count($missing) > 1 ? 'are' : 'is',
					$year->label, $year->chart()->label ?? '', count($missing) > 1 ? 'them' : 'it'),
				$fields[$missing[0]] ?? null,
				['missing_accounts' => $missing]);
		}
	}

	static public function apply(array $request): array
	{
		self::checkAccounts($request);
		$existing = Store::mappings();
		$db = Store::begin();

		try {
			// The accounts request says nothing of stay as they were: a bridge that does not send them yet
			// leaves Caisse's 678/778 and no VAT entry.
			foreach ($request['accounts'] ?? [] as $role => $code) {
				$db->preparedQuery(sprintf('INSERT INTO %s (role, account) VALUES (?, ?)
					ON CONFLICT (role) DO UPDATE SET account = excluded.account;', Store::ACCOUNTS), $role, $code);
			}

			$methods = [];

			foreach ($request['methods'] as $m) {
				$row = $existing['method'][$m['key']] ?? null;
				$method = $row && $row->id_method ? Methods::get((int) $row->id_method) : null;
				$method ??= new Method;
				$method->set('name', $m['name']);
				$method->set('type', $m['kind'] === 'cash' ? Method::TYPE_CASH : Method::TYPE_TRACKED);
				$method->set('account', $m['account']);
				$method->set('enabled', true);
				$method->set('id_location', null);
				$method->save();
				$methods[$m['key']] = $method->id();
				$db->preparedQuery(sprintf('INSERT INTO %s (kind, key, id_method, method_kind, account) VALUES (\'method\', ?, ?, ?, ?)
					ON CONFLICT (kind, key) DO UPDATE SET id_method = excluded.id_method, method_kind = excluded.method_kind, account = excluded.account;', Store::MAPPINGS),
					$m['key'], $method->id(), $m['kind'], $m['account']);
			}

			// Earlier mapped methods stay usable: their products keep their links.
			foreach ($existing['method'] as $key => $row) {
				if (!isset($methods[$key]) && $row->id_method && $row->method_name !== null) {
					$methods[$key] = (int) $row->id_method;
				}
			}

			$products = [];

			foreach ($request['categories'] as $c) {
				$row = $existing['category'][$c['key']] ?? null;
				$category = $row && $row->id_category ? Categories::get((int) $row->id_category) : null;
				$category ??= new Category;
				$category->set('name', $c['name']);
				$category->set('account', $c['account']);
				$category->save();

				$product = $row && $row->id_product ? Products::get((int) $row->id_product) : null;

				if (!$product || $product->category !== $category->id()) {
					$product = new Product;
					$product->set('category', $category->id());
					$product->set('price', 0);
					$product->set('qty', 1);
				}

				$product->set('name', $c['name']);
				$product->set('archived', false);
				$product->save();
				$products[] = $product->id();

				$db->preparedQuery(sprintf('INSERT INTO %s (kind, key, id_category, id_product, account) VALUES (\'category\', ?, ?, ?, ?)
					ON CONFLICT (kind, key) DO UPDATE SET id_category = excluded.id_category, id_product = excluded.id_product, account = excluded.account;', Store::MAPPINGS),
					$c['key'], $category->id(), $product->id(), $c['account']);
			}

			foreach ($existing['category'] as $key => $row) {
				if ($row->id_product && $row->category_name !== null) {
					$products[] = (int) $row->id_product;
				}
			}

			foreach (array_unique($products) as $id_product) {
				foreach (array_unique($methods) as $id_method) {
					$db->preparedQuery('INSERT OR IGNORE INTO plugin_pos_products_methods (product, method) VALUES (?, ?);', $id_product, $id_method);
				}
			}

			Store::commit($db);
		}
		catch (\Throwable $e) {
			Store::rollback($db);
			throw $e;
		}

		return self::describe();
	}

	static public function describe(): array
	{
		$mappings = Store::mappings();
		$out = ['categories' => [], 'methods' => [], 'accounts' => (object) Store::accounts()];

		foreach ($mappings['category'] as $key => $row) {
			$out['categories'][] = [
				'key' => (string) $key,
				'name' => $row->category_name,
				'account' => $row->category_account,
				'caisse_category_id' => $row->id_category === null ? null : (int) $row->id_category,
				'caisse_product_id' => $row->id_product === null ? null : (int) $row->id_product,
			];
		}

		foreach ($mappings['method'] as $key => $row) {
			$out['methods'][] = [
				'key' => (string) $key,
				'name' => $row->method_name,
				'kind' => $row->method_kind,
				'account' => $row->method_account,
				'caisse_method_id' => $row->id_method === null ? null : (int) $row->id_method,
			];
		}

		return $out;
	}
}
