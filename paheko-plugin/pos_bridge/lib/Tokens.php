<?php
// Short-lived bearer tokens: "v1.<claims>.<signature>", claims as base64url JSON, signed with HMAC-SHA256 under a
// secret the plugin generated and keeps. Exchanging HTTP Basic credentials once for a token spares every later
// request the ~46 ms of bcrypt that Paheko's API credential check costs.

namespace Paheko\Plugin\Pos_Bridge;

class Tokens
{
	const PREFIX = 'v1';
	const TTL = 900;
	const MIN_SECRET_BYTES = 32;

	static public function newSecret(): string
	{
		return bin2hex(random_bytes(32));
	}

	static public function b64(string $bytes): string
	{
		return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
	}

	static public function unb64(string $text): ?string
	{
		if (!preg_match('/^[A-Za-z0-9_-]*$/', $text)) {
			return null;
		}

		$bytes = base64_decode(strtr($text, '-_', '+/'), true);
		return $bytes === false ? null : $bytes;
	}

	static protected function checkSecret(string $secret): void
	{
		if (strlen($secret) < self::MIN_SECRET_BYTES) {
			throw new \LogicException('The token secret is too short');
		}
	}

	/**
	 * @param string $subject  the API credential key (or the API_USER name) the token was issued to
	 * @param string $kind     'credential' or 'system'
	 */
	static public function issue(string $secret, string $subject, string $kind, int $level, int $now, int $ttl = self::TTL): array
	{
		self::checkSecret($secret);
		$claims = ['sub' => $subject, 'knd' => $kind, 'lvl' => $level, 'iat' => $now, 'exp' => $now + $ttl];
		$body = self::b64(json_encode($claims, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR));
		$signed = self::PREFIX . '.' . $body;
		$token = $signed . '.' . self::b64(hash_hmac('sha256', $signed, $secret, true));

		return ['token' => $token, 'claims' => $claims];
	}

	/**
	 * The claims of a token this secret signed and that has not expired at $now, or null.
	 */
	static public function verify(string $secret, string $token, int $now): ?array
	{
		self::checkSecret($secret);
		$parts = explode('.', $token);

		if (count($parts) !== 3 || $parts[0] !== self::PREFIX) {
			return null;
		}

		$signature = self::unb64($parts[2]);
		$expected = hash_hmac('sha256', $parts[0] . '.' . $parts[1], $secret, true);

		if ($signature === null || !hash_equals($expected, $signature)) {
			return null;
		}

		$json = self::unb64($parts[1]);
		$claims = $json === null ? null : json_decode($json, true);

		if (!is_array($claims)
			|| !is_string($claims['sub'] ?? null)
			|| !in_array($claims['knd'] ?? null, ['credential', 'system'], true)
			|| !is_int($claims['lvl'] ?? null)
			|| !is_int($claims['exp'] ?? null)
			|| $claims['exp'] <= $now) {
			return null;
		}

		return $claims;
	}
}
