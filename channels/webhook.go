package channels

import (
	"net/url"
	"strings"
)

// DefaultAccount names the one provider account per channel that Nudge wires
// today: the one configured by the unprefixed NUDGE_<CHANNEL>_… variables.
// Several accounts per channel are not supported yet.
const DefaultAccount = "main"

// WebhookPath is where `nudge serve` mounts the webhook of channel k's
// account: /webhooks/<channel>/<account>. It is the only place that names
// the path: serve mounts it, `nudge channels setup` registers it, the SMS
// adapter derives its status callback from it and the settings page shows it.
// An empty account is DefaultAccount.
func WebhookPath(k Kind, account string) string {
	if account == "" {
		account = DefaultAccount
	}
	return "/webhooks/" + url.PathEscape(string(k)) + "/" + url.PathEscape(account)
}

// WebhookURL is the public address of a webhook: the install's base URL
// (NUDGE_BASE_URL) followed by WebhookPath.
func WebhookURL(baseURL string, k Kind, account string) string {
	return strings.TrimRight(baseURL, "/") + WebhookPath(k, account)
}
