// Package subscribers owns the people Nudge writes to: subscribers (the shop's
// customer id, name, locale, IANA time zone, free-form attributes), their
// channel identities (Telegram chat id, Viber id, E.164 phone for WhatsApp and
// SMS, Messenger PSID, Instagram IGSID, VK peer id, email), the events the shop posts about them
// (order.delivered), the streaming CSV/TXT importer and the /v1 REST API.
//
// Writes that touch several rows run in one transaction and are set-based
// (unnest arrays, COPY into a temporary table), so a batch of thousands of rows
// costs a handful of statements.
//
// Erasure removes personal data (name, attributes, identities, events) and
// replaces external_id with a pseudonym. The consent ledger is append-only;
// the one allowed exception is erasure: an UPDATE that replaces only the
// personal keys of the proof JSON (ip, user_agent, phone, email, name) with
// the subscriber's pseudonym, keeping every row, its time, source and state,
// so the fact that consent was given (and when, and how) stays provable.
package subscribers
