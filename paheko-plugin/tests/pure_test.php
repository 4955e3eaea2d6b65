<?php
// Tests of the plugin's pure parts (payload hashing, token signing and expiry, request validation, the mapping of a
// line to a Caisse item), run with php-cli alone: no Paheko needed. Exit status 0 when every test passes.

declare(strict_types=1);

namespace Paheko\Plugin\Pos_Bridge;

$lib = dirname(__DIR__) . '/pos_bridge/lib/';
foreach (['Problem', 'PayloadHash', 'Tokens', 'Requests', 'Http', 'Books', 'Tickets'] as $class) {
	require $lib . $class . '.php';
}

$tests = [];
$test = function (string $name, callable $fn) use (&$tests): void { $tests[$name] = $fn; };

function same($expected, $actual, string $what = ''): void
{
	if ($expected !== $actual) {
		throw new \RuntimeException(sprintf("%s\nexpected %s\n     got %s", $what, var_export($expected, true), var_export($actual, true)));
	}
}

function refused(callable $fn, string $field, string $reason = ''): void
{
	try {
		$fn();
	}
	catch (Problem $e) {
		same(422, $e->status, 'status');
		same($field, $e->field, 'field');

		if ($reason !== '' && strpos($e->getMessage(), $reason) === false) {
			throw new \RuntimeException(sprintf('reason "%s" not in "%s"', $reason, $e->getMessage()));
		}

		return;
	}

	throw new \RuntimeException('expected a refusal of ' . $field);
}

function ticket(array $changes = []): array
{
	return array_replace([
		'session' => '11111111-1111-4111-8111-111111111111',
		'number' => 7,
		'finalized_at' => '2026-11-23T10:00:00+01:00',
		'lines' => [
			['label' => 'Manteau', 'category' => 'clothes', 'quantity' => 1, 'unit_price' => 800, 'total' => 800, 'weight_grams' => 1200],
			['label' => 'Livre', 'category' => 'books', 'quantity' => 2, 'unit_price' => 100, 'total' => 200],
		],
		'payments' => [['method' => 'cash', 'amount' => 1000]],
	], $changes);
}

const SECRET = '0123456789abcdef0123456789abcdef0123456789abcdef';

$test('the hash ignores the order of object keys at every depth', function () {
	$a = ['b' => 1, 'a' => ['y' => [1, 2], 'x' => 'é']];
	$b = ['a' => ['x' => 'é', 'y' => [1, 2]], 'b' => 1];
	same(PayloadHash::of($a), PayloadHash::of($b));
	same('{"a":{"x":"é","y":[1,2]},"b":1}', PayloadHash::json($b));
});

$test('the hash depends on the order of list items and on every value', function () {
	same(false, PayloadHash::of(['l' => [1, 2]]) === PayloadHash::of(['l' => [2, 1]]));
	same(false, PayloadHash::of(['a' => 1]) === PayloadHash::of(['a' => 2]));
	same(64, strlen(PayloadHash::of(['a' => 1])));
});

$test('a normalized ticket and the same ticket with defaults spelled out hash alike', function () {
	$plain = Requests::ticket(ticket());
	$spelled = ticket();
	$spelled['kind'] = 'sale';
	$spelled['lines'][1]['discount'] = 0;
	$spelled['payments'][0]['reference'] = null;
	same(PayloadHash::of($plain), PayloadHash::of(Requests::ticket($spelled)));
});

$test('a token issued is verified with its claims until it expires', function () {
	$issued = Tokens::issue(SECRET, 'caisse_bridge', 'credential', 2, 1000, 900);
	$claims = Tokens::verify(SECRET, $issued['token'], 1899);
	same('caisse_bridge', $claims['sub']);
	same(2, $claims['lvl']);
	same(1900, $claims['exp']);
	same(null, Tokens::verify(SECRET, $issued['token'], 1900), 'expired at exp');
});

$test('a token signed with another secret or altered is refused', function () {
	$token = Tokens::issue(SECRET, 'caisse_bridge', 'credential', 2, 1000)['token'];
	same(null, Tokens::verify(strrev(SECRET), $token, 1001));
	[$prefix, $claims, $signature] = explode('.', $token);
	$forged = Tokens::b64(json_encode(['sub' => 'caisse_bridge', 'knd' => 'system', 'lvl' => 9, 'iat' => 1000, 'exp' => 99999]));
	same(null, Tokens::verify(SECRET, "$prefix.$forged.$signature", 1001));
	same(null, Tokens::verify(SECRET, "v2.$claims.$signature", 1001));
	same(null, Tokens::verify(SECRET, "$prefix.$claims", 1001));
	same(null, Tokens::verify(SECRET, "$prefix.$claims.***", 1001));
});

$test('a short secret cannot sign', function () {
	try {
		Tokens::issue('short', 'x', 'credential', 2, 0);
	}
	catch (\LogicException $e) {
		return;
	}
	throw new \RuntimeException('a short secret signed a token');
});

$test('a valid ticket is normalized with its defaults', function () {
	$t = Requests::ticket(ticket());
	same('sale', $t['kind']);
	same(0, $t['lines'][1]['discount']);
	same(null, $t['lines'][1]['weight_grams']);
	same(null, $t['payments'][0]['reference']);
	same(null, $t['label']);
});

$test('a line whose total is not quantity × unit price − discount is refused on its total', function () {
	$t = ticket();
	$t['lines'][1]['total'] = 150;
	refused(fn () => Requests::ticket($t), 'lines[1].total', '(200)');
	$t['lines'][1]['discount'] = 50;
	$t['payments'][0]['amount'] = 950;
	same(150, Requests::ticket($t)['lines'][1]['total']);
});

$test('payments that do not add up to the lines are refused', function () {
	refused(fn () => Requests::ticket(ticket(['payments' => [['method' => 'cash', 'amount' => 999]]])), 'payments', 'add up to 999');
});

$test('money as a float or a string is refused: integers only on the wire', function () {
	$t = ticket();
	$t['lines'][0]['unit_price'] = 8.0;
	refused(fn () => Requests::ticket($t), 'lines[0].unit_price', 'integer');
	$t = ticket();
	$t['payments'][0]['amount'] = '1000';
	refused(fn () => Requests::ticket($t), 'payments[0].amount', 'integer');
});

$test('unknown fields, a zero quantity, a bad session id or date are refused by name', function () {
	refused(fn () => Requests::ticket(ticket(['extra' => 1])), 'extra', 'not a known field');
	$t = ticket();
	$t['lines'][0]['quantity'] = 0;
	refused(fn () => Requests::ticket($t), 'lines[0].quantity');
	refused(fn () => Requests::ticket(ticket(['session' => 'nope'])), 'session', 'UUID');
	refused(fn () => Requests::ticket(ticket(['finalized_at' => '23/11/2026'])), 'finalized_at');
	refused(fn () => Requests::ticket(ticket(['lines' => []])), 'lines');
	refused(fn () => Requests::ticket(ticket(['number' => 0])), 'number');
	refused(fn () => Requests::ticket([1, 2]), 'body', 'object');
});

$test('a line without discount whose weight divides by its quantity is one exact item', function () {
	$item = Requests::itemOf(['label' => 'Assiette', 'quantity' => 3, 'unit_price' => 150, 'discount' => 0, 'total' => 450, 'weight_grams' => 900]);
	same(['name' => 'Assiette', 'qty' => 3, 'price' => 150, 'weight' => 300], $item);
});

$test('a discounted line or an uneven weight becomes one item carrying the total and the weight', function () {
	$item = Requests::itemOf(['label' => 'BD', 'quantity' => 2, 'unit_price' => 500, 'discount' => 50, 'total' => 950, 'weight_grams' => null]);
	same(['name' => 'BD (× 2) (remise 0,50)', 'qty' => 1, 'price' => 950, 'weight' => null], $item);
	$item = Requests::itemOf(['label' => 'Verres', 'quantity' => 3, 'unit_price' => 100, 'discount' => 0, 'total' => 300, 'weight_grams' => 1000]);
	same(['name' => 'Verres (× 3)', 'qty' => 1, 'price' => 300, 'weight' => 1000], $item);
});

$test('a credit note line keeps its negative quantity and a positive unit weight', function () {
	$item = Requests::itemOf(['label' => 'Manteau', 'quantity' => -1, 'unit_price' => 800, 'discount' => 0, 'total' => -800, 'weight_grams' => -1200]);
	same(['name' => 'Manteau', 'qty' => -1, 'price' => 800, 'weight' => 1200], $item);
});

$test('hundredths are written as Caisse money strings', function () {
	same('0,00', Requests::money(0));
	same('1234,56', Requests::money(123456));
	same('-0,05', Requests::money(-5));
});

$test('provisioning refuses a key used twice, an account that is not a code and an unknown kind', function () {
	$ok = ['categories' => [['key' => 'c1', 'name' => 'Livres', 'account' => '707']], 'methods' => [['key' => 'cash', 'name' => 'Espèces', 'kind' => 'cash', 'account' => '530']]];
	same('707', Requests::provisioning($ok)['categories'][0]['account']);
	$twice = $ok;
	$twice['categories'][] = ['key' => 'c1', 'name' => 'Autres', 'account' => '7071'];
	refused(fn () => Requests::provisioning($twice), 'categories[1].key', 'twice');
	$bad = $ok;
	$bad['methods'][0]['account'] = 'caisse';
	refused(fn () => Requests::provisioning($bad), 'methods[0].account');
	$bad = $ok;
	$bad['methods'][0]['kind'] = 'debt';
	refused(fn () => Requests::provisioning($bad), 'methods[0].kind');
});

$test('a close needs the ticket count and takes counted cash per method', function () {
	refused(fn () => Requests::close([]), 'ticket_count', 'required');
	$close = Requests::close(['ticket_count' => 3, 'cash' => [['method' => 'cash', 'counted' => 5200]]]);
	same('Caisse', $close['closed_by']);
	same([['method' => 'cash', 'opening' => null, 'counted' => 5200]], $close['cash']);
	refused(fn () => Requests::close(['ticket_count' => 1, 'cash' => [['method' => 'cash', 'counted' => -1]]]), 'cash[0].counted');
});

$test('a problem has the stable shape: type, title, status, detail, field', function () {
	$body = Problem::invalid('lines[0].total', 'is wrong')->body();
	same(['type', 'title', 'status', 'detail', 'field'], array_keys($body));
	same('https://caisse.example/problems/invalid-request', $body['type']);
	same(422, $body['status']);
});

$test('the path under the plugin is split, whatever Paheko is mounted under, query string aside', function () {
	$_SERVER['REQUEST_METHOD'] = 'put';
	$_SERVER['REQUEST_URI'] = '/asso/p/pos_bridge/v1/tickets/ab-cd/?x=1';
	$http = new Http('pos_bridge');
	same('PUT', $http->method);
	same(['v1', 'tickets', 'ab-cd'], $http->path);
});

$test('Basic credentials are read from PHP or from the Authorization header, the token from either header', function () {
	$_SERVER = ['REQUEST_URI' => '/p/pos_bridge/v1/token', 'HTTP_AUTHORIZATION' => 'Basic ' . base64_encode('key:se:cret')];
	$http = new Http('pos_bridge');
	same(['key', 'se:cret'], $http->basic());
	same(null, $http->bearer());
	$_SERVER = ['PHP_AUTH_USER' => 'k', 'PHP_AUTH_PW' => 'p', 'HTTP_AUTHORIZATION' => 'Bearer v1.a.b'];
	same(['k', 'p'], (new Http('pos_bridge'))->basic());
	same('v1.a.b', (new Http('pos_bridge'))->bearer());
	$_SERVER = ['HTTP_X_POS_BRIDGE_TOKEN' => ' v1.c.d '];
	same('v1.c.d', (new Http('pos_bridge'))->bearer());
	same(null, (new Http('pos_bridge'))->basic());
});

$test('a line carries its VAT with its rate, both or neither, and a ticket without them hashes as before', function () {
	$plain = Requests::ticket(ticket());
	same(false, array_key_exists('tax', $plain['lines'][0]));
	$lines = ticket()['lines'];
	$lines[0] += ['tax' => 133, 'tax_rate_bp' => 2000];
	$taxed = Requests::ticket(ticket(['lines' => $lines]));
	same([133, 2000], [$taxed['lines'][0]['tax'], $taxed['lines'][0]['tax_rate_bp']]);
	$nulls = ticket()['lines'];
	$nulls[1] += ['tax' => null, 'tax_rate_bp' => null];
	same(PayloadHash::of($plain), PayloadHash::of(Requests::ticket(ticket(['lines' => $nulls]))));
	$half = ticket()['lines'];
	$half[0]['tax'] = 133;
	refused(fn () => Requests::ticket(ticket(['lines' => $half])), 'lines[0].tax_rate_bp', 'give both or neither');
	$rate = ticket()['lines'];
	$rate[0] += ['tax' => 133, 'tax_rate_bp' => 10001];
	refused(fn () => Requests::ticket(ticket(['lines' => $rate])), 'lines[0].tax_rate_bp');
});

$test('a sale keeps the wall time and offset of its territory, which date its tab and payments', function () {
	$sold = Tickets::soldAt(Requests::ticket(ticket(['finalized_at' => '2026-12-31T23:50:00+11:00'])));
	same('2026-12-31 23:50:00', $sold->format('Y-m-d H:i:s'));
});

$test('a close takes the till\'s opening and close, who opened, the entry\'s label and project', function () {
	$close = Requests::close(['ticket_count' => 1, 'opened_at' => '2026-12-31T23:50:00+01:00',
		'closed_at' => '2027-01-01T00:20:00+01:00', 'opened_by' => 'Caisse 2', 'label' => 'Boutique — Caisse 2 — 01/01/2027',
		'project' => 'BOUT']);
	same(['2026-12-31T23:50:00+01:00', '2027-01-01T00:20:00+01:00', 'Caisse 2', 'BOUT'],
		[$close['opened_at'], $close['closed_at'], $close['opened_by'], $close['project']]);
	same(false, array_key_exists('closed_at', Requests::close(['ticket_count' => 1, 'closed_at' => null])));
	refused(fn () => Requests::close(['ticket_count' => 1, 'opened_at' => '2027-01-01T00:20:00+01:00',
		'closed_at' => '2026-12-31T23:50:00+01:00']), 'closed_at', 'before opened_at');
	refused(fn () => Requests::close(['ticket_count' => 1, 'closed_at' => 'tomorrow']), 'closed_at');
});

$test('provisioning takes the company\'s variance and VAT accounts, each optional', function () {
	$base = ['categories' => [['key' => 'c', 'name' => 'C', 'account' => '707']], 'methods' => [['key' => 'cash', 'name' => 'E', 'kind' => 'cash', 'account' => '530']]];
	$with = Requests::provisioning($base + ['accounts' => ['variance_shortage' => '658', 'variance_surplus' => '758', 'vat_collected' => null]]);
	same(['variance_shortage' => '658', 'variance_surplus' => '758'], $with['accounts']);
	same(false, array_key_exists('accounts', Requests::provisioning($base)));
	refused(fn () => Requests::provisioning($base + ['accounts' => ['variance_shortage' => '6x']]), 'accounts.variance_shortage');
	refused(fn () => Requests::provisioning($base + ['accounts' => ['bank' => '512']]), 'accounts.bank', 'not a known field');
});

$test('a tab names the till, the number and the cashier; a VAT rate reads as in French', function () {
	same('Caisse 2 n°7 — Camille', Tickets::tabName(Requests::ticket(ticket(['label' => 'Caisse 2', 'cashier' => 'Camille']))));
	same('Avoir Ticket n°7', Tickets::tabName(Requests::ticket(ticket(['kind' => 'credit_note']))));
	same(['20 %', '5,5 %', '2,1 %', '0 %'], [Books::rate(2000), Books::rate(550), Books::rate(210), Books::rate(0)]);
});

$test('a deposit takes its session, day, slip, bank account and credit lines, refusing what is not one', function () {
	$base = ['session' => 'a1b2c3d4-0000-4000-8000-000000000001', 'date' => '2026-12-07', 'reference' => 'BR-1',
		'bank_account' => '512', 'lines' => [['account' => '530', 'amount' => 7000, 'label' => 'Espèces'],
		['account' => '5112', 'amount' => 900, 'label' => 'Chèque n°1', 'reference' => '0001']]];
	$deposit = Requests::deposit($base + ['project' => 'BOUT', 'label' => null]);
	same(['2026-12-07', 'BR-1', '512', 'BOUT', '0001'], [$deposit['date'], $deposit['reference'], $deposit['bank_account'],
		$deposit['project'], $deposit['lines'][1]['reference']]);
	same(false, array_key_exists('label', $deposit));
	same(false, array_key_exists('reference', $deposit['lines'][0]));
	same(PayloadHash::of($deposit), PayloadHash::of(Requests::deposit(array_reverse($base, true) + ['project' => 'BOUT'])));
	refused(fn () => Requests::deposit(['date' => '2026-02-30'] + $base), 'date', 'not a valid date');
	refused(fn () => Requests::deposit(['lines' => []] + $base), 'lines');
	refused(fn () => Requests::deposit(['lines' => [['account' => '530', 'amount' => 0, 'label' => 'E']]] + $base), 'lines[0].amount');
	refused(fn () => Requests::deposit(['bank_account' => 'bank'] + $base), 'bank_account');
	refused(fn () => Requests::deposit(['session' => 'not-a-uuid'] + $base), 'session');
	refused(fn () => Requests::deposit($base + ['cash' => 1]), 'cash', 'not a known field');
});

$failed = 0;

foreach ($tests as $name => $fn) {
	try {
		$fn();
		echo "ok   $name\n";
	}
	catch (\Throwable $e) {
		$failed++;
		echo "FAIL $name\n     " . str_replace("\n", "\n     ", $e->getMessage()) . "\n";
	}
}

printf("%d passed, %d failed\n", count($tests) - $failed, $failed);
exit($failed ? 1 : 0);
