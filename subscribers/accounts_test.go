package subscribers_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/subscribers"
)

// The API binds an identity to the account it names (main by default): the
// same chat id on two bots belongs to two subscribers without conflict,
// and a taken one on the same bot conflicts.
func TestUpsertIdentityAccounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	a, _, err := b.store.Upsert(ctx, subscribers.Input{ExternalID: "a",
		Identities: []subscribers.IdentityInput{{Channel: channels.Telegram, Account: "brand-b", Address: "42"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Identities) != 1 || a.Identities[0].Account != "brand-b" {
		t.Fatalf("identities %+v", a.Identities)
	}
	bb, _, err := b.store.Upsert(ctx, subscribers.Input{ExternalID: "b",
		Identities: []subscribers.IdentityInput{{Channel: channels.Telegram, Address: "42"}}})
	if err != nil {
		t.Fatalf("the same chat id on main: %v", err)
	}
	if len(bb.Identities) != 1 || bb.Identities[0].Account != channels.DefaultAccount {
		t.Fatalf("identities %+v", bb.Identities)
	}
	_, _, err = b.store.Upsert(ctx, subscribers.Input{ExternalID: "c",
		Identities: []subscribers.IdentityInput{{Channel: channels.Telegram, Account: "brand-b", Address: "42"}}})
	var ce *subscribers.ConflictError
	if !errors.As(err, &ce) || ce.Field != "identities[0].address" {
		t.Fatalf("taken on brand-b: %v", err)
	}
	_, _, err = b.store.Upsert(ctx, subscribers.Input{ExternalID: "d",
		Identities: []subscribers.IdentityInput{{Channel: channels.Telegram, Account: "Brand B", Address: "43"}}})
	var fe *subscribers.FieldError
	if !errors.As(err, &fe) || fe.Field != "identities[0].account" {
		t.Fatalf("bad account: %v", err)
	}
}
