package consent_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/consent/jwtlink"
	"github.com/nudge-engine/nudge/internal/testenv"
)

func jwtHS256() jwt.SigningMethod { return jwt.SigningMethodHS256 }

// BenchmarkVerify measures token verification per algorithm (no database).
func BenchmarkVerify(b *testing.B) {
	k := keys(b)
	cfg := testConfig(b)
	v := jwtlink.NewVerifier(cfg.JWTKeys, testAudience, testIssuer, 0, clock)
	for _, c := range []struct {
		alg string
		tok string
	}{
		{"HS256", sign(b, jwt.SigningMethodHS256, "hs-new", k.hsNew, baseClaims("b"))},
		{"RS256", sign(b, jwt.SigningMethodRS256, "rs1", k.rsa, baseClaims("b"))},
		{"ES256", sign(b, jwt.SigningMethodES256, "es1", k.ec, baseClaims("b"))},
	} {
		b.Run(c.alg, func(b *testing.B) {
			for b.Loop() {
				if _, err := v.Verify(c.tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLedgerGrant measures single consent writes (lock + insert) on the pool.
func BenchmarkLedgerGrant(b *testing.B) {
	d := testenv.DB(b)
	l := consent.NewLedger()
	sub := newSubscriber(b, d, "bench")
	for b.Loop() {
		if err := l.Grant(ctx(), d, consent.Change{SubscriberID: sub, Channel: channels.Telegram, Topic: consent.TopicMarketing, Source: consent.SourceAPI}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBinderStart measures a full opt-in start with a widget code
// (new anonymous subscriber, identity, consent, event) per iteration.
func BenchmarkBinderStart(b *testing.B) {
	d := testenv.DB(b)
	binder := consent.NewBinder(d, nil, clock)
	code, err := consent.NewCodes(clock).Create(ctx(), d, consent.NewCode{Topics: consent.Topics, Source: consent.SourceWidget, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if _, err := binder.Start(ctx(), channels.Event{Type: channels.EventStart, Channel: channels.Telegram,
			From: fmt.Sprint(i), Code: code.Code, ProviderEventID: fmt.Sprint(i)}); err != nil {
			b.Fatal(err)
		}
	}
}
