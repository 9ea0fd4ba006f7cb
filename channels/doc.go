// Package channels is the contract between the engine and the messaging
// providers: an outbound Message, a classified send Error, inbound Events from
// webhooks, and the Sink that persists them. Each provider lives in its own
// sub-package (telegram, viber, whatsapp, messenger, instagram, vk, sms, email, sandbox)
// with a fake server beside it that speaks the provider's real wire protocol;
// adapters are tested only through those fakes.
//
// What every adapter does the same way lives here once: the names of an
// account's environment variables (EnvVar, LoadAPIURL), the HTTP round trip
// of the REST adapters and the classification of bare HTTP failures
// (Exchange, HTTPStatusError), and the webhook steps that do not depend on
// the provider (ReadPost, Refuse, Store, WebhookLog). Wire formats, signature
// checks and error codes stay in each provider's package. Two internal
// packages serve the tests: internal/fakekit is the plumbing the fakes share
// (records, rate windows, scripted answers, receipt plans, webhook delivery)
// and internal/channeltest what the adapters' tests share (a recording Sink,
// held timers, fixtures, posting).
package channels
