<?php
// One finalized ticket → one closed Caisse tab, in one DB transaction: the tab, one item per line (free price,
// quantity, weight), one payment per tender, then close. The ticket UUID and the payload's hash are stored with
// the answer: the same payload again answers the stored result and writes nothing; other content is a conflict.

namespace Paheko\Plugin\Pos_Bridge;

use Paheko\DB;
use Paheko\Plugin\Caisse\Entities\Tab;
use Paheko\Plugin\Caisse\Entities\TabItem;

class Tickets
{
	static public function get(string $uuid): array
	{
		$row = Store::ticket($uuid);

		if (!$row) {
			throw new Problem(404, 'unknown-ticket', 'Unknown ticket', 'This ticket was never pushed.');
		}

		return Store::decode($row->result);
	}

	/**
	 * The stored answer for a UUID already written, or a conflict when the payload differs.
	 */
	static protected function replay(\stdClass $row, string $hash): array
	{
		if (hash_equals($row->hash, $hash)) {
			return [200, array_merge(Store::decode($row->result), ['replayed' => true])];
		}

		throw new Problem(409, 'ticket-conflict', 'Ticket already pushed with other content',
			'This ticket UUID was written with another payload; the first one stands.', null,
			['stored' => Store::decode($row->result)]);
	}

	static protected function check(array $ticket, array $mappings): void
	{
		foreach ($ticket['lines'] as $i => $line) {
			if (!isset($mappings['category'][$line['category']]) || $mappings['category'][$line['category']]->category_name === null) {
				throw Problem::invalid(sprintf('lines[%d].category', $i), sprintf('"%s" is not a provisioned category', $line['category']));
			}
		}

		foreach ($ticket['payments'] as $i => $payment) {
			$method = $mappings['method'][$payment['method']] ?? null;

			if (!$method || $method->method_name === null) {
				throw Problem::invalid(sprintf('payments[%d].method', $i), sprintf('"%s" is not a provisioned payment method', $payment['method']));
			}

			if ($payment['reference'] !== null && $method->method_kind !== 'tracked') {
				throw Problem::invalid(sprintf('payments[%d].reference', $i), 'only tracked methods (cheque, card…) take a reference in Caisse');
			}
		}
	}

	/**
	 * When the ticket was sold, as the wall time of the till's territory: the bridge sends it with the territory's
	 * offset, and Paheko's dates are local-time strings (a UTC time would move a late sale to the next day).
	 */
	static public function soldAt(array $ticket): \DateTime
	{
		return new \DateTime($ticket['finalized_at']);
	}

	/**
	 * "Caisse 2 n°17 — Camille": the till, the ticket's number and the cashier, as a treasurer looks for it.
	 */
	static public function tabName(array $ticket): string
	{
		return sprintf('%s%s n°%d%s', $ticket['kind'] === 'credit_note' ? 'Avoir ' : '', $ticket['label'] ?? 'Ticket',
			$ticket['number'], isset($ticket['cashier']) ? ' — ' . $ticket['cashier'] : '');
	}

	static public function push(string $uuid, array $ticket, string $hash): array
	{
		if ($row = Store::ticket($uuid)) {
			return self::replay($row, $hash);
		}

		$mappings = Store::mappings();
		self::check($ticket, $mappings);

		$db = Store::begin();

		try {
			// A concurrent push of the same UUID waits for the lock, then fails here on the primary key.
			$db->preparedQuery(sprintf('INSERT INTO %s (uuid, hash, session_uuid, id_session, result) VALUES (?, ?, ?, 0, \'{}\');', Store::TICKETS),
				$uuid, $hash, $ticket['session']);
		}
		catch (\KD2\DB\DB_Exception $e) {
			Store::rollback($db);

			if ($row = Store::ticket($uuid)) {
				return self::replay($row, $hash);
			}

			throw $e;
		}

		try {
			[$session_row, $session] = CashSessions::ensureOpen($ticket['session'], $ticket['label'], [], $mappings, self::soldAt($ticket));

			if ($session->closed) {
				throw new Problem(409, 'session-closed', 'Session already closed',
					sprintf('Caisse session n°%d is closed: a ticket cannot be added to it.', $session->id()), 'session');
			}

			$sold = self::soldAt($ticket);

			$tab = new Tab;
			$tab->set('session', $session->id());
			$tab->set('opened', $sold);
			$tab->set('name', self::tabName($ticket));
			$tab->save();
			$tab->session($session);

			$total = 0;

			foreach ($ticket['lines'] as $line) {
				$category = $mappings['category'][$line['category']];
				$item = Requests::itemOf($line);
				$tab_item = new TabItem;
				// The fields Tab::addProductItem copies from the product and its category, with our line's own
				// quantity, free price, label and weight in grams (addProductItem takes only a kg string).
				$tab_item->importForm([
					'tab'            => $tab->id(),
					'product'        => (int) $category->id_product,
					'qty'            => $item['qty'],
					'price'          => $item['price'],
					'weight'         => $item['weight'],
					'name'           => $item['name'],
					'category_name'  => $category->category_name,
					'description'    => null,
					'account'        => $category->category_account,
					'type'           => TabItem::TYPE_PRODUCT,
					'pricing'        => TabItem::PRICING_QTY,
					'id_fee'         => null,
					'id_parent_item' => null,
				]);
				$tab_item->set('added', $sold);
				$tab_item->save();
				$total += $tab_item->total;

				if (isset($line['tax'])) {
					$db->preparedQuery(sprintf('INSERT INTO %s (id_item, id_session, rate_bp, tax) VALUES (?, ?, ?, ?);', Store::ITEMS_TAXES),
						$tab_item->id(), $session->id(), $line['tax_rate_bp'], $line['tax']);
				}
			}

			foreach ($ticket['payments'] as $payment) {
				// Caisse's Tab::pay trims the reference: '' when there is none (null is fatal on PHP 8.1+).
				$tab->pay((int) $mappings['method'][$payment['method']]->id_method, $payment['amount'], $payment['reference'] ?? '', false, false);
			}

			$tab->close(false);

			// Caisse dates a payment and a tab's close with the time of the write: they happened at the sale.
			$at = $sold->format('Y-m-d H:i:s');
			$db->preparedQuery('UPDATE plugin_pos_tabs_payments SET date = ? WHERE tab = ?;', $at, $tab->id());
			$db->preparedQuery('UPDATE plugin_pos_tabs SET closed = ? WHERE id = ?;', $at, $tab->id());

			$result = [
				'ticket' => $uuid,
				'session' => $ticket['session'],
				'number' => $ticket['number'],
				'caisse_session_id' => $session->id(),
				'caisse_tab_id' => $tab->id(),
				'total' => $total,
				'items' => count($ticket['lines']),
				'payments' => count($ticket['payments']),
				'replayed' => false,
			];

			$db->preparedQuery(sprintf('UPDATE %s SET id_session = ?, id_tab = ?, result = ? WHERE uuid = ?;', Store::TICKETS),
				$session->id(), $tab->id(), Store::encode($result), $uuid);
			Store::commit($db);
		}
		catch (\Throwable $e) {
			Store::rollback($db);
			throw $e;
		}

		return [201, $result];
	}
}
