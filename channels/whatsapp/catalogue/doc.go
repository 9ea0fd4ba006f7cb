// Package catalogue keeps a copy of each WhatsApp account's message
// templates in Postgres (migration 00024): Sync lists the business
// account's templates through the Graph API and replaces the account's rows
// in one transaction, so templates deleted on WhatsApp disappear; Load turns
// every synced account into the campaigns.WhatsAppCatalogue that lint and
// preview check whatsapp_template references against. Sending never reads
// the catalogue: WhatsApp itself refuses unknown or unapproved templates
// (132001, 132015, …), and the copy may be stale.
package catalogue
