// Package instagramfake is an in-process Instagram messaging API (Messenger
// Platform): the shared Send API fake (metafake) playing an Instagram
// professional account — webhooks of object "instagram", messaging_type
// RESPONSE, HUMAN_AGENT as the only tag, text up to 1000 bytes, no button
// template, seen events naming the mid and no delivery receipts, and an
// untagged send outside the window refused with HTTP 403 and IGApiException
// 10/2534022. Beyond metafake it sends story replies, story mentions and
// ig.me referrals as Instagram words them.
package instagramfake

import (
	"context"
	"net/http"

	"github.com/nudge-engine/nudge/channels/meta"
	"github.com/nudge-engine/nudge/channels/meta/metafake"
)

// Options, Plan and Sent are metafake's; Options.PageID is the Instagram
// account id.
type (
	Options = metafake.Options
	Plan    = metafake.Plan
	Sent    = metafake.Sent
)

// Product is Instagram as the fake plays it: the wire's rules stated here,
// not taken from the adapter, so a test shows the adapter keeps them.
var Product = metafake.Product{
	Name: "instagramfake", Object: "instagram",
	Tags:           map[string]bool{"HUMAN_AGENT": true},
	MessagingTypes: map[string]bool{"RESPONSE": true},
	MaxText:        1000, TextBytes: true, ReadByMID: true,
	Window: metafake.Refusal{Status: http.StatusForbidden, Code: 10, Subcode: meta.SubcodeWindowInstagram, Type: "IGApiException",
		Message: "This message is sent outside of allowed window."},
}

// Server is the fake.
type Server struct{ *metafake.Server }

// New starts a fake account; Close it when done.
func New(opt Options) *Server { return &Server{metafake.New(Product, opt)} }

// RateLimitedIn200 makes the next send answer 613 inside an HTTP 200, a
// refusal the adapter must still see as one.
func (s *Server) RateLimitedIn200() {
	s.Refuse(metafake.Refusal{Status: http.StatusOK, In200: true, Code: 613, Type: "IGApiException",
		Message: "(#613) Calls to this api have exceeded the rate limit."})
}

// StoryReply sends a reply to the account's story at storyURL; it returns
// the mid.
func (s *Server) StoryReply(ctx context.Context, igsid, text, storyURL string) (string, error) {
	mid := s.NextMID()
	return mid, s.Event(ctx, igsid, map[string]any{"message": map[string]any{"mid": mid, "text": text,
		"reply_to": map[string]any{"story": map[string]string{"url": storyURL, "id": "17900000000000001"}}}})
}

// StoryMention sends a mention of the account in the person's story at
// storyURL; it returns the mid.
func (s *Server) StoryMention(ctx context.Context, igsid, storyURL string) (string, error) {
	mid := s.NextMID()
	return mid, s.Event(ctx, igsid, map[string]any{"message": map[string]any{"mid": mid,
		"attachments": []any{map[string]any{"type": "story_mention", "payload": map[string]string{"url": storyURL}}}}})
}

// OpenLink sends what ig.me/m/<user>?ref=<ref> produces: on an existing
// thread a messaging_referral event (source SHORTLINKS); on a new one the
// referral rides on the icebreaker postback the person taps.
func (s *Server) OpenLink(ctx context.Context, igsid, ref string, newThread bool) error {
	r := map[string]string{"ref": ref, "source": "SHORTLINKS", "type": "OPEN_THREAD"}
	if newThread {
		return s.Event(ctx, igsid, map[string]any{"postback": map[string]any{"mid": s.NextMID(),
			"title": "Get started", "payload": "ICEBREAKER_START", "referral": r}})
	}
	return s.Event(ctx, igsid, map[string]any{"referral": r})
}
