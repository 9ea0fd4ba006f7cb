// Package payments is the engine's side of renewals paid in the chat. When
// the worker's outbox composes a message with a pay button on a channel
// with in-chat payments (Telegram), Issue records the invoice (who may pay
// what, until when) under a payload derived from the message key, and the
// adapter sends it (sendInvoice). The provider's pre-checkout asks Check,
// synchronously from the webhook (Telegram waits 10 seconds): a known, open,
// unexpired invoice of the same amount and currency passes, anything else
// is refused with a reason the customer sees. Paid records the payment once
// per charge id and posts the subscriber's subscription.renewed event (with
// the amount, currency, product and charge ids), which a campaign's goal
// counts like any posted event.
//
// On channels without in-chat payments a pay button is a tracked link to
// the shop (package templates renders it, package links tracks it); the
// shop posts subscription.renewed itself when it is paid.
//
// The package owns the table invoices.
package payments
