package consent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent/jwtlink"
	"github.com/nudge-engine/nudge/internal/db"
)

// ErrReplayed is returned when a JWT's id was already used.
var ErrReplayed = &jwtlink.Error{Reason: jwtlink.ReasonReplayed, Detail: "the link was already used"}

// statusOfReason maps a refused token to the page's HTTP status.
func statusOfReason(r jwtlink.Reason) int {
	switch r {
	case jwtlink.ReasonExpired, jwtlink.ReasonReplayed:
		return http.StatusGone
	case jwtlink.ReasonUnknownKey, jwtlink.ReasonAlgorithm, jwtlink.ReasonSignature,
		jwtlink.ReasonAudience, jwtlink.ReasonIssuer, jwtlink.ReasonNotYetValid:
		return http.StatusForbidden
	case jwtlink.ReasonNoKeys:
		return http.StatusNotFound
	default:
		return http.StatusBadRequest
	}
}

// jwtLink is GET /s/{token}[?channel=telegram[&account=brand-b]]: verifies the shop-signed
// token, mints a code bound to its customer (consuming the jti in the same
// transaction) and redirects to the channel's deep link, or shows a page of
// channel buttons carrying that code. A refused token gets a 4xx page naming
// the reason, and nothing is written.
func (rt *Routes) jwtLink(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	t := pickLang(r, q.Get("lang"))
	claims, err := rt.verifier.Verify(r.PathValue("token"))
	if err != nil {
		reason := jwtlink.ReasonOf(err)
		rt.log.InfoContext(r.Context(), "deep link refused", "reason", reason)
		rt.errorPage(w, r, t, statusOfReason(reason), t.Reasons[reason])
		return
	}
	if q.Get("lang") == "" && r.Header.Get("Accept-Language") == "" && claims.Locale != "" {
		t = pickLang(r, claims.Locale[:2])
	}
	ch, account := channels.Kind(q.Get("channel")), channels.Account(q.Get("account"))
	if ch != "" && (!slices.Contains(rt.cfg.Enabled(), ch) || rt.cfg.targetOf(ch, account) == "") {
		rt.errorPage(w, r, t, http.StatusBadRequest, t.BadChannel)
		return
	}
	code, err := rt.redeemJWT(r.Context(), claims, AttributionFrom(q.Get))
	if err != nil {
		if reason := jwtlink.ReasonOf(err); reason != "" {
			rt.log.InfoContext(r.Context(), "deep link refused", "reason", reason)
			rt.errorPage(w, r, t, statusOfReason(reason), t.Reasons[reason])
			return
		}
		rt.log.ErrorContext(r.Context(), "deep link", "err", err)
		rt.errorPage(w, r, t, http.StatusInternalServerError, t.Internal)
		return
	}
	if ch != "" {
		link, err := rt.cfg.DeepLinkOf(ch, account, code.Code)
		if err != nil {
			rt.log.ErrorContext(r.Context(), "deep link", "channel", ch, "err", err)
			rt.errorPage(w, r, t, http.StatusInternalServerError, t.Internal)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, link, http.StatusFound)
		return
	}
	links, err := rt.cfg.Links(code.Code)
	if err != nil {
		rt.log.ErrorContext(r.Context(), "deep link", "err", err)
		rt.errorPage(w, r, t, http.StatusInternalServerError, t.Internal)
		return
	}
	rt.render(w, r, http.StatusOK, "widget", pageData{
		T: t, Links: toPageLinks(links), Marketing: slices.Contains(code.TopicList(), TopicMarketing),
	})
}

// redeemJWT upserts the token's customer, mints a code bound to them and
// stores the jti with it, in one transaction: a replayed jti rolls it all back.
func (rt *Routes) redeemJWT(ctx context.Context, c *jwtlink.Claims, attr Attribution) (*Code, error) {
	topics := make([]Topic, 0, len(c.Topics))
	for _, t := range c.Topics {
		topics = append(topics, Topic(t))
	}
	var code *Code
	err := db.WithTx(ctx, rt.db, func(tx *sqlx.Tx) error {
		sub, err := EnsureSubscriber(ctx, tx, Customer{ExternalID: c.Subject, Name: c.Name, Locale: localeOf(c.Locale), TimeZone: c.TZ})
		if err != nil {
			return err
		}
		code, err = rt.codes.Create(ctx, tx, NewCode{
			SubscriberID: sub, Topics: topics, Source: SourceJWTLink, Attribution: attr,
			TextVersion: rt.cfg.TextVersion, JTI: c.ID, TTL: rt.cfg.LinkCodeTTL,
		})
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, sqlInsertJTI, rt.verifier.Issuer(), c.ID, sub, code.Code, c.ExpiresAt.Time, rt.now().UTC())
		if err != nil {
			return fmt.Errorf("store jti: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return ErrReplayed
		}
		return nil
	})
	if err != nil {
		var je *jwtlink.Error
		if errors.As(err, &je) {
			return nil, err
		}
		return nil, fmt.Errorf("redeem deep link: %w", err)
	}
	return code, nil
}
