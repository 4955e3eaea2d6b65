<?php
// An error answered as a problem document (RFC 9457-like): type, title, status, detail, the field at fault.

namespace Paheko\Plugin\Pos_Bridge;

class Problem extends \Exception
{
	const TYPE_BASE = 'https://caisse.example/problems/';

	public string $slug;
	public string $title;
	public int $status;
	public ?string $field;
	public array $extra;

	public function __construct(int $status, string $slug, string $title, string $detail, ?string $field = null, array $extra = [])
	{
		parent::__construct($detail, $status);
		$this->status = $status;
		$this->slug = $slug;
		$this->title = $title;
		$this->field = $field;
		$this->extra = $extra;
	}

	static public function invalid(string $field, string $detail): self
	{
		return new self(422, 'invalid-request', 'The request is invalid', $detail, $field);
	}

	public function body(): array
	{
		return array_merge([
			'type'   => self::TYPE_BASE . $this->slug,
			'title'  => $this->title,
			'status' => $this->status,
			'detail' => $this->getMessage(),
			'field'  => $this->field,
		], $this->extra);
	}
}
