// Package channels is the contract between the engine and the messaging
// providers: an outbound Message, a classified send Error, inbound Events from
// webhooks, and the Sink that persists them. Each provider lives in its own
// sub-package (telegram, viber, whatsapp, messenger, vk, sms, email, sandbox)
// with a fake server beside it that speaks the provider's real wire protocol;
// adapters are tested only through those fakes.
package channels
