// Package email is the email adapter: SMTP sending with
// github.com/wneessen/go-mail (multipart/alternative text and HTML,
// List-Unsubscribe with RFC 8058 one-click POST, a Message-ID derived from the
// message's idempotency key so a retried send carries the same id), SMTP reply
// classification (5xx at RCPT: not reachable or invalid; 4xx: transient),
// parsing of RFC 3464 delivery status notifications (bounces) into failed and
// delivered events, an HTTP webhook that accepts a raw bounce from an
// inbound-mail relay, and open/click tracking (a pixel and a signed redirect
// that is no open redirect) reported as read.
//
// The fake in emailfake is an SMTP server built on github.com/emersion/go-smtp
// that records messages and can refuse recipients like a real MTA.
//
// A Message.Document is fetched and attached (attach.go); album images go
// into the HTML part (templates).
package email
