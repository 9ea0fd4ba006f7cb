package worker

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/nudge-engine/nudge/channels"
)

// Pacing of rate-limited channels: sendJobs reserves a slot for each of a
// batch's messages in one limiter call per account, then sends each at its
// slot with at most maxInFlight provider calls open, so a slow provider
// reply does not hold the next slot back. A provider that counts a request
// of many messages once (channels.RequestBatcher: VK's execute) gets a slot per
// request of CallsPerRequest messages.

// maxInFlight bounds the provider calls one batch has open at once.
const maxInFlight = 128

// pacing is how long a batch's messages may wait for their slots.
type pacing struct {
	wait time.Duration // the furthest slot a message takes
	// hold lets a message wait for its chat beyond the account's next slot,
	// idling the account until then (see ratelimit.Limiter.Reserve).
	hold bool
}

var (
	// claimPacing: a claim holds its transaction and consent locks until its
	// last send. A message whose slot is further, or whose chat is busy past
	// the account's next slot, stays pending and its run is due again
	// around that slot.
	claimPacing = pacing{wait: 5 * time.Second}
	// replyPacing: a manager waits for the page to answer, a few seconds at
	// most; a second reply to the same chat may wait for the chat.
	replyPacing = pacing{wait: 3 * time.Second, hold: true}
)

// requestBatch returns ch's sender and how many messages one of its
// rate-limited requests carries: CallsPerRequest of a channels.RequestBatcher whose
// rate has no per-chat part (one request cannot take many chats' slots),
// else 1.
func (e *Engine) requestBatch(ch string) (channels.RequestBatcher, int) {
	rb, ok := e.senders[channels.Kind(ch)].(channels.RequestBatcher)
	if !ok || e.cfg.Limiter.Rate(ch).PerChatPerSecond > 0 {
		return nil, 1
	}
	return rb, max(rb.CallsPerRequest(), 1)
}

// messageRate is ch's account rate in messages a second: its rate (of
// requests) times the messages a request carries (requestBatch). Claims
// and ledger groups are sized by it.
func (e *Engine) messageRate(ch string) float64 {
	_, n := e.requestBatch(ch)
	return e.cfg.Limiter.Rate(ch).PerSecond * float64(n)
}

// sendResult is a provider's answer to one message.
type sendResult struct {
	r   channels.Result
	err error
}

// sendPaced sends jobs[idx] of channel ch at the slots the
// limiter reserves, as p allows, a message or a request (requestBatch) at
// each slot. Results are in idx's
// order. A message without a slot gets a RateLimited error whose
// RetryAfter is when its slot would have been. It returns an error only
// when the limiter fails or ctx ends (after the sends under way return).
func (e *Engine) sendPaced(ctx context.Context, ch string, jobs []job, idx []int, p pacing) ([]sendResult, error) {
	res := make([]sendResult, len(idx))
	// A planned call: one message, or one request of a channels.RequestBatcher.
	type planned struct {
		ks []int // positions in idx
		at time.Time
	}
	var plan []planned
	byAccount := map[string][]int{}
	var accounts []string
	for k, i := range idx {
		a := channels.Account(jobs[i].m.Account)
		if _, ok := byAccount[a]; !ok {
			accounts = append(accounts, a)
		}
		byAccount[a] = append(byAccount[a], k)
	}
	rb, per := e.requestBatch(ch)
	for _, a := range accounts {
		ks := byAccount[a]
		var calls [][]int
		for start := 0; start < len(ks); start += per {
			calls = append(calls, ks[start:min(start+per, len(ks))])
		}
		chats := make([]string, len(calls))
		for n, c := range calls {
			chats[n] = jobs[idx[c[0]]].m.Address // a request's chats are not limited (requestBatch)
		}
		slots, err := e.cfg.Limiter.Reserve(ctx, ch, a, chats, p.wait, p.hold)
		if err != nil {
			return nil, err
		}
		for n, c := range calls {
			if slots[n].OK {
				plan = append(plan, planned{ks: c, at: slots[n].At})
				continue
			}
			for _, k := range c {
				res[k].err = &channels.Error{Kind: channels.RateLimited, Code: "no_slot",
					Message: "no send slot within " + p.wait.String(), RetryAfter: time.Until(slots[n].At)}
			}
		}
	}
	sort.SliceStable(plan, func(a, b int) bool { return plan[a].at.Before(plan[b].at) })

	var wg sync.WaitGroup
	defer wg.Wait()
	inFlight := make(chan struct{}, maxInFlight)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for n, next := range plan {
		// Slots are wall-clock times (the provider counts real seconds).
		if d := time.Until(next.at); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-timer.C:
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case inFlight <- struct{}{}:
		}
		// The group's consent locks must still be held as the call
		// starts; when they are not, neither this message nor the rest
		// is sent (they yield, as to an opt-out under way).
		if err := fresh(ctx); err != nil {
			<-inFlight
			for _, rest := range plan[n:] {
				for _, k := range rest.ks {
					res[k].err = err
				}
			}
			break
		}
		wg.Add(1)
		go func(ks []int) {
			defer wg.Done()
			defer func() { <-inFlight }()
			if rb == nil {
				r, err := e.call(ctx, ch, jobs[idx[ks[0]]].msg)
				res[ks[0]] = sendResult{r: r, err: err}
				return
			}
			msgs := make([]channels.Message, len(ks))
			for m, k := range ks {
				msgs[m] = jobs[idx[k]].msg
			}
			rs, errs, _ := e.callBatch(ctx, rb, ch, msgs)
			for m, k := range ks {
				res[k] = sendResult{r: rs[m], err: errs[m]}
			}
		}(next.ks)
	}
	wg.Wait()
	return res, nil
}
