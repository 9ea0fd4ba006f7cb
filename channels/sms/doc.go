// Package sms is the SMS adapter over the Twilio Programmable Messaging API:
// a hand-rolled client (one form POST to
// /2010-04-01/Accounts/{AccountSid}/Messages.json with Basic auth and a
// StatusCallback) and a webhook for Twilio's status callbacks and inbound
// messages that checks X-Twilio-Signature (base64 HMAC-SHA1 of the full URL
// and the sorted POST parameters, keyed with the auth token) before it uses
// any parameter.
//
// twilio-go is not used: its base URL is hard-coded (only the region and edge
// inside twilio.com can change), so pointing it at the in-repo fake means
// rewriting hosts in a RoundTripper, while the API we need is one form POST
// and one error JSON.
//
// The status callback URL carries the message's correlation (c=…) so a
// status can be matched even before the provider id is stored. Inbound STOP,
// STOPALL, UNSUBSCRIBE, CANCEL, END and QUIT (Twilio's opt-out keywords; also
// OptOutType=STOP of Advanced Opt-Out) become EventOptOut; Twilio itself then
// refuses further sends to that number with 21610, classified as blocked.
package sms
