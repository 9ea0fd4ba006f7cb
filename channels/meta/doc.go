// Package meta is the Graph API plumbing that the WhatsApp Cloud API, the
// Messenger Send API and Instagram messaging share: one authenticated JSON
// POST, the Graph error JSON
// ({"error":{"message","type","code","error_subcode","error_data","fbtrace_id"}}),
// X-Hub-Signature-256 verification of webhook bodies (HMAC-SHA256 keyed with
// the app secret, compared in constant time before the body is parsed) and the
// hub.challenge subscription handshake. Messenger and Instagram also share the
// Messenger Platform's Send API body and error classes (Messages, SendRules,
// Classify) and its "messaging" webhooks (Messaging), each product stating
// its own rules; metafake is the fake both products' fakes play.
//
// The clients are hand-rolled rather than built on an SDK: each channel needs
// one POST endpoint, the only maintained WhatsApp SDK is alpha and the
// Messenger ones are years stale (SHA-1 signatures, Graph v2), and a base URL
// that tests can point at the in-repo fakes is the one thing every call needs.
package meta
