// Package messengerfake is an in-process Messenger Send API: the shared
// Messenger Platform fake (metafake) playing a Facebook page — webhooks of
// object "page", messaging types RESPONSE and UPDATE, the four message tags,
// text up to 2000 characters, button templates, delivery and read
// watermarks, and 10/2018278 for an untagged send outside the window.
package messengerfake

import (
	"net/http"

	"github.com/nudge-engine/nudge/channels/meta"
	"github.com/nudge-engine/nudge/channels/meta/metafake"
)

// Server, Options, Plan and Sent are metafake's.
type (
	Server  = metafake.Server
	Options = metafake.Options
	Plan    = metafake.Plan
	Sent    = metafake.Sent
)

// Product is Messenger as the fake plays it: the wire's rules stated here,
// not taken from the adapter, so a test shows the adapter keeps them.
var Product = metafake.Product{
	Name: "messengerfake", Object: "page",
	Tags:           map[string]bool{"ACCOUNT_UPDATE": true, "CONFIRMED_EVENT_UPDATE": true, "POST_PURCHASE_UPDATE": true, "HUMAN_AGENT": true},
	MessagingTypes: map[string]bool{"RESPONSE": true, "UPDATE": true},
	MaxText:        2000, ButtonTemplate: true, Deliveries: true,
	Window: metafake.Refusal{Status: http.StatusBadRequest, Code: 10, Subcode: meta.SubcodeWindowMessenger,
		Message: "(#10) This message is sent outside of allowed window."},
}

// New starts a fake page; Close it when done.
func New(opt Options) *Server { return metafake.New(Product, opt) }
