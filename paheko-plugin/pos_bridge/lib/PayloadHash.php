<?php
// The fingerprint of a request body: SHA-256 of its canonical JSON (object keys sorted at every depth,
// lists kept in order, no whitespace), so that a replay with keys in another order is the same payload.

namespace Paheko\Plugin\Pos_Bridge;

class PayloadHash
{
	static public function canonical($value)
	{
		if (!is_array($value)) {
			return $value;
		}

		if (array_is_list($value)) {
			return array_map([self::class, 'canonical'], $value);
		}

		ksort($value, SORT_STRING);
		return (object) array_map([self::class, 'canonical'], $value);
	}

	static public function json($value): string
	{
		return json_encode(self::canonical($value), JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR);
	}

	static public function of($value): string
	{
		return hash('sha256', self::json($value));
	}
}
