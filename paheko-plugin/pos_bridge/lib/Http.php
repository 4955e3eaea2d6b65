<?php
// Reading one HTTP request (method, path under the plugin, headers, JSON body) and writing one JSON answer.

namespace Paheko\Plugin\Pos_Bridge;

class Http
{
	const MAX_BODY = 1048576;

	public string $method;
	/** @var string[] */
	public array $path;
	protected ?string $raw = null;

	public function __construct(string $plugin_name)
	{
		$this->method = strtoupper($_SERVER['REQUEST_METHOD'] ?? 'GET');
		$uri = (string) parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);
		$marker = '/p/' . $plugin_name . '/';
		$pos = strpos($uri, $marker);
		$rest = $pos === false ? '' : substr($uri, $pos + strlen($marker));
		$this->path = array_values(array_filter(explode('/', $rest), fn ($s) => $s !== ''));
	}

	public function header(string $name): ?string
	{
		$key = 'HTTP_' . strtoupper(str_replace('-', '_', $name));
		return $_SERVER[$key] ?? ($name === 'Authorization' ? ($_SERVER['REDIRECT_HTTP_AUTHORIZATION'] ?? null) : null);
	}

	/**
	 * HTTP Basic credentials, from PHP's own parsing or from the header itself (CGI and FPM setups often
	 * hand over only the header).
	 */
	public function basic(): ?array
	{
		if (isset($_SERVER['PHP_AUTH_USER'], $_SERVER['PHP_AUTH_PW'])) {
			return [(string) $_SERVER['PHP_AUTH_USER'], (string) $_SERVER['PHP_AUTH_PW']];
		}

		$header = $this->header('Authorization');

		if ($header && preg_match('/^Basic\s+([A-Za-z0-9+\/=]+)$/i', trim($header), $m)) {
			$pair = base64_decode($m[1], true);

			if ($pair !== false && strpos($pair, ':') !== false) {
				return explode(':', $pair, 2);
			}
		}

		return null;
	}

	/**
	 * The bearer token, from Authorization or from X-Pos-Bridge-Token for hosts that strip Authorization.
	 */
	public function bearer(): ?string
	{
		$header = $this->header('Authorization');

		if ($header && preg_match('/^Bearer\s+(\S+)$/i', trim($header), $m)) {
			return $m[1];
		}

		$header = $this->header('X-Pos-Bridge-Token');
		return $header ? trim($header) : null;
	}

	/**
	 * The decoded JSON body; null when the request has none.
	 */
	public function json()
	{
		$length = (int) ($_SERVER['CONTENT_LENGTH'] ?? 0);

		if ($length > self::MAX_BODY) {
			throw new Problem(413, 'payload-too-large', 'The request body is too large', sprintf('At most %d bytes.', self::MAX_BODY));
		}

		$this->raw ??= (string) file_get_contents('php://input', false, null, 0, self::MAX_BODY + 1);

		if (strlen($this->raw) > self::MAX_BODY) {
			throw new Problem(413, 'payload-too-large', 'The request body is too large', sprintf('At most %d bytes.', self::MAX_BODY));
		}

		if (trim($this->raw) === '') {
			return null;
		}

		try {
			return json_decode($this->raw, true, 32, JSON_THROW_ON_ERROR | JSON_BIGINT_AS_STRING);
		}
		catch (\JsonException $e) {
			throw new Problem(400, 'malformed-json', 'The request body is not JSON', $e->getMessage(), 'body');
		}
	}

	static public function send(int $status, $body, array $headers = []): void
	{
		$json = json_encode($body, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_PARTIAL_OUTPUT_ON_ERROR);

		if (!headers_sent()) {
			http_response_code($status);
			$type = $status >= 400 ? 'application/problem+json' : 'application/json';
			header('Content-Type: ' . $type . '; charset=utf-8', true);
			header('Cache-Control: no-store', true);
			// With a length the client has the whole answer without waiting for the connection to close, which
			// comes only after PHP's shutdown (closing SQLite may checkpoint the WAL then).
			header('Content-Length: ' . strlen($json), true);

			foreach ($headers as $name => $value) {
				header($name . ': ' . $value, true);
			}
		}

		echo $json;

		while (ob_get_level()) {
			ob_end_flush();
		}

		flush();

		if (function_exists('fastcgi_finish_request')) {
			fastcgi_finish_request();
		}
	}
}
