package payments

const (
	// An invoice is written when its message is composed; composing the
	// same message again writes nothing new.
	qIssue = `
INSERT INTO invoices (payload, message_key, subscriber_id, campaign_id, campaign_version, step_id, channel,
                      product, currency, amount, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
    ON CONFLICT (payload) DO NOTHING`

	qGet = `
SELECT subscriber_id, campaign_id, step_id, product, currency, amount, expires_at, status, charge_id
  FROM invoices WHERE payload = $1`

	// Only an open invoice becomes paid: the first charge wins.
	qPaid = `
UPDATE invoices SET status = 'paid', charge_id = $2, provider_charge_id = NULLIF($3, ''), paid_at = $4
 WHERE payload = $1 AND status = 'open'`
)

const (
	// Erasure drops whom an invoice was for and keeps what was paid (a
	// business record); an open invoice can no longer be paid.
	qErase = `UPDATE invoices SET subscriber_id = NULL WHERE subscriber_id = $1`

	qExport = `
SELECT coalesce(json_agg(json_build_object('campaign_id', campaign_id, 'step_id', step_id, 'channel', channel,
       'product', product, 'currency', currency, 'amount', amount, 'status', status, 'created_at', created_at,
       'expires_at', expires_at, 'paid_at', paid_at, 'charge_id', charge_id, 'provider_charge_id', provider_charge_id)
       ORDER BY created_at, payload), '[]')
  FROM invoices WHERE subscriber_id = $1`
)
