<?php
// Checks the shape and arithmetic of request bodies before anything touches Paheko, naming the field at fault.
// Pure: no Paheko class, no database; the written contract is paheko-plugin/openapi.yaml.

namespace Paheko\Plugin\Pos_Bridge;

class Requests
{
	const KEY = '/^[A-Za-z0-9._:-]{1,100}$/';
	const ACCOUNT = '/^[0-9]{2,10}[A-Z0-9]*$/';
	const UUID = '/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/';
	const DATETIME = '/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/';
	const MAX_AMOUNT = 100000000000;
	const MAX_LINES = 500;
	const MAX_PAYMENTS = 50;
	/** The company's accounts Caisse's sync does not take: where cash variances and collected VAT are booked. */
	const ACCOUNT_ROLES = ['variance_shortage', 'variance_surplus', 'vat_collected'];

	static public function uuid(string $value, string $field): string
	{
		$value = strtolower($value);

		if (!preg_match(self::UUID, $value)) {
			throw Problem::invalid($field, 'must be a UUID');
		}

		return $value;
	}

	static protected function object($value, string $field): array
	{
		if (!is_array($value) || (array_is_list($value) && count($value))) {
			throw Problem::invalid($field, 'must be an object');
		}

		return $value;
	}

	static protected function only(array $body, array $allowed, string $prefix): void
	{
		foreach (array_keys($body) as $name) {
			if (!in_array($name, $allowed, true)) {
				throw Problem::invalid($prefix . $name, 'is not a known field');
			}
		}
	}

	static protected function list(array $body, string $name, string $field, int $min, int $max): array
	{
		$value = $body[$name] ?? null;

		if (!is_array($value) || !array_is_list($value)) {
			throw Problem::invalid($field, 'must be a list');
		}

		if (count($value) < $min || count($value) > $max) {
			throw Problem::invalid($field, sprintf('must hold %d to %d entries', $min, $max));
		}

		return $value;
	}

	static protected function int(array $body, string $name, string $field, ?int $min = null, ?int $max = null, ?int $default = null, bool $nullable = false): ?int
	{
		if (!array_key_exists($name, $body) || ($body[$name] === null && !$nullable)) {
			if ($default !== null) {
				return $default;
			}

			if ($nullable && !array_key_exists($name, $body)) {
				return null;
			}

			throw Problem::invalid($field, 'is required');
		}

		$value = $body[$name];

		if ($value === null) {
			return null;
		}

		// JSON 12.0 or "12" is refused: money and counts are integers on the wire.
		if (!is_int($value)) {
			throw Problem::invalid($field, 'must be an integer');
		}

		$min ??= -self::MAX_AMOUNT;
		$max ??= self::MAX_AMOUNT;

		if ($value < $min || $value > $max) {
			throw Problem::invalid($field, sprintf('must be between %d and %d', $min, $max));
		}

		return $value;
	}

	static protected function string(array $body, string $name, string $field, int $max, ?string $pattern = null, ?string $default = null, bool $nullable = false): ?string
	{
		$value = $body[$name] ?? null;

		if ($value === null) {
			if ($default !== null || $nullable) {
				return $default;
			}

			throw Problem::invalid($field, 'is required');
		}

		if (!is_string($value)) {
			throw Problem::invalid($field, 'must be a string');
		}

		$value = trim($value);

		if ($value === '' && !$nullable) {
			throw Problem::invalid($field, 'must not be empty');
		}

		if (!preg_match('//u', $value)) {
			throw Problem::invalid($field, 'must be UTF-8 text');
		}

		if (preg_match_all('/./su', $value) > $max) {
			throw Problem::invalid($field, sprintf('must be at most %d characters', $max));
		}

		if ($pattern !== null && !preg_match($pattern, $value)) {
			throw Problem::invalid($field, 'has an invalid format');
		}

		return $value === '' ? null : $value;
	}

	static protected function unique(array $items, string $key, string $field): void
	{
		$seen = [];

		foreach ($items as $i => $item) {
			if (isset($seen[$item[$key]])) {
				throw Problem::invalid(sprintf('%s[%d].%s', $field, $i, $key), 'is used twice');
			}

			$seen[$item[$key]] = true;
		}
	}

	/**
	 * PUT provisioning: our categories and payment methods, with their accounts.
	 */
	static public function provisioning($body): array
	{
		$body = self::object($body, 'body');
		self::only($body, ['categories', 'methods', 'accounts'], '');
		$out = ['categories' => [], 'methods' => []];

		if (isset($body['accounts'])) {
			$a = self::object($body['accounts'], 'accounts');
			self::only($a, self::ACCOUNT_ROLES, 'accounts.');
			$out['accounts'] = [];

			foreach (self::ACCOUNT_ROLES as $role) {
				$code = self::string($a, $role, 'accounts.' . $role, 20, self::ACCOUNT, null, true);

				if ($code !== null) {
					$out['accounts'][$role] = $code;
				}
			}
		}

		foreach (self::list($body, 'categories', 'categories', 1, 1000) as $i => $c) {
			$f = sprintf('categories[%d].', $i);
			$c = self::object($c, rtrim($f, '.'));
			self::only($c, ['key', 'name', 'account'], $f);
			$out['categories'][] = [
				'key'     => self::string($c, 'key', $f . 'key', 100, self::KEY),
				'name'    => self::string($c, 'name', $f . 'name', 200),
				'account' => self::string($c, 'account', $f . 'account', 20, self::ACCOUNT),
			];
		}

		foreach (self::list($body, 'methods', 'methods', 1, 100) as $i => $m) {
			$f = sprintf('methods[%d].', $i);
			$m = self::object($m, rtrim($f, '.'));
			self::only($m, ['key', 'name', 'kind', 'account'], $f);
			$kind = self::string($m, 'kind', $f . 'kind', 10);

			if (!in_array($kind, ['cash', 'tracked'], true)) {
				throw Problem::invalid($f . 'kind', 'must be "cash" or "tracked"');
			}

			$out['methods'][] = [
				'key'     => self::string($m, 'key', $f . 'key', 100, self::KEY),
				'name'    => self::string($m, 'name', $f . 'name', 200),
				'kind'    => $kind,
				'account' => self::string($m, 'account', $f . 'account', 20, self::ACCOUNT),
			];
		}

		self::unique($out['categories'], 'key', 'categories');
		self::unique($out['methods'], 'key', 'methods');
		return $out;
	}

	/**
	 * PUT sessions/{uuid}: open (or update the opening float of) a session.
	 */
	static public function session($body): array
	{
		$body = self::object($body ?? [], 'body');
		self::only($body, ['label', 'cash'], '');

		return [
			'label' => self::string($body, 'label', 'label', 100, null, null, true),
			'cash'  => self::cash($body, false),
		];
	}

	static protected function cash(array $body, bool $closing): array
	{
		if (!array_key_exists('cash', $body)) {
			return [];
		}

		$out = [];

		foreach (self::list($body, 'cash', 'cash', 0, 20) as $i => $c) {
			$f = sprintf('cash[%d].', $i);
			$c = self::object($c, rtrim($f, '.'));
			self::only($c, $closing ? ['method', 'opening', 'counted'] : ['method', 'opening'], $f);
			$out[] = [
				'method'  => self::string($c, 'method', $f . 'method', 100, self::KEY),
				'opening' => self::int($c, 'opening', $f . 'opening', 0, null, null, $closing),
				'counted' => $closing ? self::int($c, 'counted', $f . 'counted', 0) : null,
			];
		}

		self::unique($out, 'method', 'cash');
		return $out;
	}

	/**
	 * POST sessions/{uuid}/close: the counted cash per cash method and how many tickets the session holds.
	 */
	static public function close($body): array
	{
		$body = self::object($body ?? [], 'body');
		self::only($body, ['closed_by', 'ticket_count', 'cash', 'opened_at', 'closed_at', 'opened_by', 'label', 'project'], '');

		$out = [
			'closed_by'    => self::string($body, 'closed_by', 'closed_by', 100, null, 'Caisse'),
			'ticket_count' => self::int($body, 'ticket_count', 'ticket_count', 0, 1000000),
			'cash'         => self::cash($body, true),
		];

		// Optional fields enter the normalized request (and its hash) only when given: a close sent before they
		// existed hashes as it did.
		foreach (['opened_at', 'closed_at'] as $name) {
			if (isset($body[$name])) {
				$out[$name] = self::datetime($body, $name);
			}
		}

		if (isset($body['opened_by'])) {
			$out['opened_by'] = self::string($body, 'opened_by', 'opened_by', 100);
		}

		if (isset($body['label'])) {
			$out['label'] = self::string($body, 'label', 'label', 200);
		}

		if (isset($body['project'])) {
			$out['project'] = self::string($body, 'project', 'project', 100);
		}

		if (isset($out['opened_at'], $out['closed_at']) && new \DateTimeImmutable($out['closed_at']) < new \DateTimeImmutable($out['opened_at'])) {
			throw Problem::invalid('closed_at', 'is before opened_at');
		}

		return $out;
	}

	/**
	 * PUT deposits/{uuid}: a closed session's bank deposit, its credit lines (the cash, each cheque) in hundredths;
	 * the bank account is debited with their total.
	 */
	static public function deposit($body): array
	{
		$body = self::object($body ?? [], 'body');
		self::only($body, ['session', 'date', 'reference', 'label', 'bank_account', 'lines', 'project'], '');
		$date = self::string($body, 'date', 'date', 10, '/^\d{4}-\d{2}-\d{2}$/');

		if (!\DateTimeImmutable::createFromFormat('!Y-m-d', $date) || \DateTimeImmutable::createFromFormat('!Y-m-d', $date)->format('Y-m-d') !== $date) {
			throw Problem::invalid('date', 'is not a valid date');
		}

		$out = [
			'session'      => self::uuid(self::string($body, 'session', 'session', 36), 'session'),
			'date'         => $date,
			'reference'    => self::string($body, 'reference', 'reference', 100),
			'bank_account' => self::string($body, 'bank_account', 'bank_account', 20, self::ACCOUNT),
			'lines'        => [],
		];

		foreach (self::list($body, 'lines', 'lines', 1, 10000) as $i => $line) {
			$where = sprintf('lines[%d].', $i);
			$line = self::object($line, rtrim($where, '.'));
			self::only($line, ['account', 'amount', 'label', 'reference'], $where);
			$entry = [
				'account' => self::string($line, 'account', $where . 'account', 20, self::ACCOUNT),
				'amount'  => self::int($line, 'amount', $where . 'amount', 1, self::MAX_AMOUNT),
				'label'   => self::string($line, 'label', $where . 'label', 200),
			];

			if (isset($line['reference'])) {
				$entry['reference'] = self::string($line, 'reference', $where . 'reference', 100);
			}

			$out['lines'][] = $entry;
		}

		foreach (['label' => 200, 'project' => 100] as $name => $max) {
			if (isset($body[$name])) {
				$out[$name] = self::string($body, $name, $name, $max);
			}
		}

		return $out;
	}

	/**
	 * A date and time with its offset, as the till's local time: Paheko stores the wall time it shows.
	 */
	static protected function datetime(array $body, string $name): string
	{
		$value = self::string($body, $name, $name, 40, self::DATETIME);

		try {
			new \DateTimeImmutable($value);
		}
		catch (\Exception $e) {
			throw Problem::invalid($name, 'is not a valid date and time');
		}

		return $value;
	}

	/**
	 * PUT tickets/{uuid}: one finalized ticket. Every line's total is quantity × unit price − discount,
	 * and the payments add up to the lines (cash rounding travels as a line of its own).
	 */
	static public function ticket($body): array
	{
		$body = self::object($body, 'body');
		self::only($body, ['session', 'number', 'kind', 'label', 'cashier', 'finalized_at', 'lines', 'payments'], '');

		$kind = self::string($body, 'kind', 'kind', 20, null, 'sale');

		if (!in_array($kind, ['sale', 'credit_note'], true)) {
			throw Problem::invalid('kind', 'must be "sale" or "credit_note"');
		}

		$finalized_at = self::datetime($body, 'finalized_at');

		$out = [
			'session'      => self::uuid(self::string($body, 'session', 'session', 36), 'session'),
			'number'       => self::int($body, 'number', 'number', 1, PHP_INT_MAX),
			'kind'         => $kind,
			'label'        => self::string($body, 'label', 'label', 100, null, null, true),
			'finalized_at' => $finalized_at,
			'lines'        => [],
			'payments'     => [],
		];

		// Only when given: a ticket sent before the field existed hashes as it did.
		if (isset($body['cashier'])) {
			$out['cashier'] = self::string($body, 'cashier', 'cashier', 100);
		}

		$lines_total = 0;

		foreach (self::list($body, 'lines', 'lines', 1, self::MAX_LINES) as $i => $l) {
			$f = sprintf('lines[%d].', $i);
			$l = self::object($l, rtrim($f, '.'));
			self::only($l, ['label', 'category', 'quantity', 'unit_price', 'discount', 'total', 'weight_grams', 'tax', 'tax_rate_bp'], $f);
			$line = [
				'label'        => self::string($l, 'label', $f . 'label', 200),
				'category'     => self::string($l, 'category', $f . 'category', 100, self::KEY),
				'quantity'     => self::int($l, 'quantity', $f . 'quantity', -100000, 100000),
				'unit_price'   => self::int($l, 'unit_price', $f . 'unit_price'),
				'discount'     => self::int($l, 'discount', $f . 'discount', null, null, 0),
				'total'        => self::int($l, 'total', $f . 'total'),
				'weight_grams' => self::int($l, 'weight_grams', $f . 'weight_grams', -10000000, 10000000, null, true),
			];

			// VAT of a VAT-subject company's line, included in its total: both or neither, and only when given, so
			// that a line without them hashes as it always did.
			$tax = self::int($l, 'tax', $f . 'tax', null, null, null, true);
			$rate = self::int($l, 'tax_rate_bp', $f . 'tax_rate_bp', 0, 10000, null, true);

			if (($tax === null) !== ($rate === null)) {
				throw Problem::invalid($f . ($tax === null ? 'tax' : 'tax_rate_bp'), 'goes with tax_rate_bp and tax: give both or neither');
			}

			if ($tax !== null) {
				$line['tax'] = $tax;
				$line['tax_rate_bp'] = $rate;
			}

			if ($line['quantity'] === 0) {
				throw Problem::invalid($f . 'quantity', 'must not be zero');
			}

			if ($line['quantity'] * $line['unit_price'] - $line['discount'] !== $line['total']) {
				throw Problem::invalid($f . 'total', sprintf('must equal quantity × unit_price − discount (%d)',
					$line['quantity'] * $line['unit_price'] - $line['discount']));
			}

			$lines_total += $line['total'];
			$out['lines'][] = $line;
		}

		$paid = 0;

		foreach (self::list($body, 'payments', 'payments', 0, self::MAX_PAYMENTS) as $i => $p) {
			$f = sprintf('payments[%d].', $i);
			$p = self::object($p, rtrim($f, '.'));
			self::only($p, ['method', 'amount', 'reference'], $f);
			$payment = [
				'method'    => self::string($p, 'method', $f . 'method', 100, self::KEY),
				'amount'    => self::int($p, 'amount', $f . 'amount'),
				'reference' => self::string($p, 'reference', $f . 'reference', 100, null, null, true),
			];

			if ($payment['amount'] === 0) {
				throw Problem::invalid($f . 'amount', 'must not be zero');
			}

			$paid += $payment['amount'];
			$out['payments'][] = $payment;
		}

		if ($paid !== $lines_total) {
			throw Problem::invalid('payments', sprintf('add up to %d but the lines add up to %d', $paid, $lines_total));
		}

		return $out;
	}

	/**
	 * How a line is written as one Caisse tab item, whose total Caisse recomputes as qty × price and whose
	 * weight is per unit (reports sum qty × weight): exact when the line has no discount and its weight divides
	 * evenly by its quantity; otherwise one item of quantity 1 carrying the line's total and weight.
	 */
	static public function itemOf(array $line): array
	{
		$q = $line['quantity'];
		$w = $line['weight_grams'];

		if ($line['discount'] === 0 && ($w === null || $w % $q === 0)) {
			return ['name' => $line['label'], 'qty' => $q, 'price' => $line['unit_price'], 'weight' => $w === null ? null : intdiv($w, $q)];
		}

		$name = $q === 1 ? $line['label'] : sprintf('%s (× %d)', $line['label'], $q);

		if ($line['discount'] !== 0) {
			$name .= sprintf(' (remise %s)', self::money($line['discount']));
		}

		preg_match('/^.{0,250}/su', $name, $match);

		return ['name' => $match[0], 'qty' => 1, 'price' => $line['total'], 'weight' => $w];
	}

	/**
	 * Integer hundredths as the money string Caisse's forms take ("1234,50", "-0,05").
	 */
	static public function money(int $cents): string
	{
		$sign = $cents < 0 ? '-' : '';
		$cents = abs($cents);
		return sprintf('%s%d,%02d', $sign, intdiv($cents, 100), $cents % 100);
	}
}
