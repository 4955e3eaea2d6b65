<?php
// Who may call the bridge: HTTP Basic with a Paheko API credential of write level (or the API_USER/API_PASSWORD
// system user), exchanged once for a signed token; every other request shows the token. Credentials are never
// stored or logged here.

namespace Paheko\Plugin\Pos_Bridge;

use Paheko\API_Credentials;
use Paheko\DB;
use Paheko\Entities\Plugin;
use Paheko\Users\Session;

class Auth
{
	protected Plugin $plugin;

	public function __construct(Plugin $plugin)
	{
		$this->plugin = $plugin;
	}

	protected function secret(): string
	{
		$secret = $this->plugin->getConfig('token_secret');

		if (!is_string($secret) || strlen($secret) < Tokens::MIN_SECRET_BYTES) {
			$secret = Tokens::newSecret();
			$this->plugin->setConfigProperty('token_secret', $secret);
			$this->plugin->save();
		}

		return $secret;
	}

	static protected function systemUser(): ?array
	{
		$user = defined('Paheko\API_USER') ? \Paheko\API_USER : null;
		$password = defined('Paheko\API_PASSWORD') ? \Paheko\API_PASSWORD : null;
		return $user && $password ? [(string) $user, (string) $password] : null;
	}

	static protected function unauthorized(string $slug, string $detail): Problem
	{
		return new Problem(401, $slug, 'Authentication required', $detail, null, []);
	}

	/**
	 * POST token: checks HTTP Basic credentials (bcrypt, once) and answers a token.
	 */
	public function exchange(?array $basic): array
	{
		if (!$basic) {
			throw self::unauthorized('unauthenticated', 'Send an API credential of write level with HTTP Basic.');
		}

		[$login, $password] = $basic;
		$system = self::systemUser();

		if ($system && hash_equals($system[0], $login) && hash_equals($system[1], $password)) {
			$kind = 'system';
			$level = Session::ACCESS_ADMIN;
		}
		else {
			$kind = 'credential';
			$level = API_Credentials::auth($login, $password);

			if ($level === null) {
				throw self::unauthorized('invalid-credentials', 'Unknown API credential or wrong secret.');
			}
		}

		if ($level < Session::ACCESS_WRITE) {
			throw new Problem(403, 'insufficient-access', 'Access level too low', 'The bridge needs an API credential of write level.');
		}

		$issued = Tokens::issue($this->secret(), $login, $kind, $level, time());

		return [
			'token'      => $issued['token'],
			'token_type' => 'Bearer',
			'expires_in' => Tokens::TTL,
			'expires_at' => gmdate('Y-m-d\TH:i:s\Z', $issued['claims']['exp']),
		];
	}

	/**
	 * Every other route: a valid, unexpired token whose credential still exists with write level
	 * (a cheap lookup, no bcrypt), so that deleting the credential in Paheko revokes its tokens at once.
	 */
	public function check(?string $token): array
	{
		if (!$token) {
			throw self::unauthorized('unauthenticated', 'Send the token from POST token as "Authorization: Bearer …".');
		}

		$claims = Tokens::verify($this->secret(), $token, time());

		if (!$claims) {
			throw self::unauthorized('invalid-token', 'The token is invalid or expired: ask POST token for a new one.');
		}

		if ($claims['knd'] === 'system') {
			$system = self::systemUser();
			$valid = $system && hash_equals($system[0], $claims['sub']);
		}
		else {
			$level = DB::getInstance()->firstColumn('SELECT access_level FROM api_credentials WHERE key = ?;', $claims['sub']);
			$valid = $level !== false && $level !== null && (int) $level >= Session::ACCESS_WRITE;
		}

		if (!$valid) {
			throw self::unauthorized('invalid-token', 'The credential behind this token was removed or downgraded.');
		}

		return $claims;
	}
}
