<?php
// The bridge's REST API under /p/pos_bridge/v1/: routing, authentication and the mapping of every failure to a
// JSON problem document. Nothing escapes as an HTML page or a stack trace.

namespace Paheko\Plugin\Pos_Bridge;

use Paheko\Entities\Plugin;
use Paheko\UserException;
use Paheko\ValidationException;
use KD2\DB\DB_Exception;
use KD2\ErrorManager;

class Api
{
	static protected bool $answered = false;

	static public function serve(Plugin $plugin): void
	{
		$started = microtime(true);
		ini_set('display_errors', '0');
		register_shutdown_function([self::class, 'onShutdown']);
		$http = new Http($plugin->name);

		try {
			[$status, $body, $headers] = self::route($plugin, $http) + [2 => []];
		}
		catch (Problem $e) {
			[$status, $body, $headers] = [$e->status, $e->body(), $e->status === 401 ? ['WWW-Authenticate' => 'Bearer realm="pos_bridge"'] : []];
		}
		catch (UserException|ValidationException $e) {
			// Caisse's own rules (amount above the remainder, unavailable method…): the request cannot succeed as is.
			$problem = new Problem(422, 'rejected-by-caisse', 'Caisse refused the operation', $e->getMessage());
			[$status, $body, $headers] = [422, $problem->body(), []];
		}
		catch (\Throwable $e) {
			[$status, $body, $headers] = self::unexpected($e);
		}

		// How long Paheko took to reach the plugin, and the plugin's own work: where a slow push spends its time.
		$boot = isset($_SERVER['REQUEST_TIME_FLOAT']) ? max(0, $started - $_SERVER['REQUEST_TIME_FLOAT']) : 0;
		$headers['Server-Timing'] = sprintf('paheko;dur=%.1f, bridge;dur=%.1f', $boot * 1000, (microtime(true) - $started) * 1000);
		self::$answered = true;
		Http::send($status, $body, $headers);
	}

	static protected function unexpected(\Throwable $e): array
	{
		if (self::isBusy($e)) {
			$problem = new Problem(503, 'busy', 'Paheko is busy', 'The database is locked by another writer: retry shortly.');
			return [503, $problem->body(), ['Retry-After' => '1']];
		}

		try {
			ErrorManager::reportExceptionSilent($e);
		}
		catch (\Throwable $ignored) {
		}

		$problem = new Problem(500, 'internal', 'Internal error', 'The bridge failed unexpectedly; the details are in Paheko\'s error log.');
		return [500, $problem->body(), []];
	}

	static protected function isBusy(\Throwable $e): bool
	{
		for (; $e; $e = $e->getPrevious()) {
			if (($e instanceof DB_Exception || $e instanceof \Exception) && preg_match('/database is locked|database table is locked|SQLITE_BUSY/i', $e->getMessage())) {
				return true;
			}
		}

		return false;
	}

	/**
	 * A fatal error PHP cannot catch still answers a problem document, without its message or trace.
	 */
	static public function onShutdown(): void
	{
		if (self::$answered) {
			return;
		}

		$error = error_get_last();

		if ($error && in_array($error['type'], [E_ERROR, E_PARSE, E_CORE_ERROR, E_COMPILE_ERROR], true)) {
			while (ob_get_level()) {
				ob_end_clean();
			}

			$problem = new Problem(500, 'internal', 'Internal error', 'The bridge failed unexpectedly; the details are in Paheko\'s error log.');
			Http::send(500, $problem->body());
		}
	}

	static protected function methodNotAllowed(array $allowed): Problem
	{
		return new Problem(405, 'method-not-allowed', 'Method not allowed', sprintf('Use %s.', implode(' or ', $allowed)), null, ['allow' => $allowed]);
	}

	static protected function route(Plugin $plugin, Http $http): array
	{
		$path = $http->path;
		$method = $http->method;

		if (($path[0] ?? null) !== 'v1') {
			throw new Problem(404, 'not-found', 'Not found', 'The API lives under v1/.');
		}

		$path = array_slice($path, 1);
		$auth = new Auth($plugin);
		$route = $path[0] ?? '';

		if ($route === 'token' && count($path) === 1) {
			if ($method !== 'POST') {
				throw self::methodNotAllowed(['POST']);
			}

			return [200, $auth->exchange($http->basic())];
		}

		$known = ($route === 'health' && count($path) === 1)
			|| ($route === 'provisioning' && count($path) === 1)
			|| ($route === 'tickets' && count($path) === 2)
			|| ($route === 'deposits' && count($path) === 2)
			|| ($route === 'sessions' && (count($path) === 2 || (count($path) === 3 && $path[2] === 'close')));

		if (!$known) {
			throw new Problem(404, 'not-found', 'Not found', sprintf('No route v1/%s.', implode('/', $path)));
		}

		$auth->check($http->bearer());

		if ($route === 'health') {
			if ($method !== 'GET') {
				throw self::methodNotAllowed(['GET']);
			}

			return [200, Health::report($plugin)];
		}

		self::requireCaisse();

		if ($route === 'provisioning') {
			if ($method === 'GET') {
				return [200, Provisioning::describe()];
			}

			if ($method !== 'PUT') {
				throw self::methodNotAllowed(['GET', 'PUT']);
			}

			return [200, Provisioning::apply(Requests::provisioning($http->json()))];
		}

		if ($route === 'tickets') {
			$uuid = Requests::uuid($path[1], 'uuid');

			if ($method === 'GET') {
				return [200, Tickets::get($uuid)];
			}

			if ($method !== 'PUT') {
				throw self::methodNotAllowed(['GET', 'PUT']);
			}

			$ticket = Requests::ticket($http->json());
			return Tickets::push($uuid, $ticket, PayloadHash::of($ticket));
		}

		if ($route === 'deposits') {
			if ($method !== 'PUT') {
				throw self::methodNotAllowed(['PUT']);
			}

			$uuid = Requests::uuid($path[1], 'uuid');
			$deposit = Requests::deposit($http->json());
			return Deposits::book($uuid, $deposit, PayloadHash::of($deposit));
		}

		$uuid = Requests::uuid($path[1], 'uuid');

		if (count($path) === 3) {
			if ($method !== 'POST') {
				throw self::methodNotAllowed(['POST']);
			}

			$request = Requests::close($http->json());
			return CashSessions::close($uuid, $request, PayloadHash::of($request));
		}

		if ($method === 'GET') {
			return [200, CashSessions::get($uuid)];
		}

		if ($method !== 'PUT') {
			throw self::methodNotAllowed(['GET', 'PUT']);
		}

		return CashSessions::open($uuid, Requests::session($http->json()));
	}

	static protected function requireCaisse(): void
	{
		$enabled = \Paheko\DB::getInstance()->firstColumn('SELECT enabled FROM plugins WHERE name = \'caisse\';');

		if (!$enabled) {
			throw new Problem(409, 'caisse-not-enabled', 'Caisse is not enabled', 'Enable the Caisse extension in Paheko first.');
		}
	}
}
