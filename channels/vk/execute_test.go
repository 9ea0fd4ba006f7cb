package vk_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/vk"
	"github.com/nudge-engine/nudge/channels/vk/vkfake"
	"github.com/nudge-engine/nudge/internal/testenv"
)

func TestSendBatchUsesExecute(t *testing.T) {
	t.Parallel()
	fake := vkfake.New()
	t.Cleanup(fake.Close)
	fake.RatePerSecond = 0
	var requests testenv.HTTPCalls
	c := vk.New(vk.Config{Bot: channels.Bot{Token: vkfake.Token, APIURL: fake.APIURL()}, GroupID: vkfake.GroupID}, requests.Client())
	fake.SetPeer(1007, 901) // never allowed messages: this call fails inside execute
	// Texts that a JS string literal must carry exactly: quotes, a
	// backslash, a newline, HTML-ish characters, emoji.
	text := func(i int) string {
		return "Меню недели №" + strconv.Itoa(i) + ` — "борщ" \ <b>&</b> 🍲` + "\nNext week's menu"
	}
	var msgs []channels.Message
	for i := range 60 {
		m := channels.Message{IdempotencyKey: "run" + strconv.Itoa(i) + ":menu:0", To: strconv.Itoa(1000 + i), Text: text(i)}
		if i%10 == 0 {
			m.Buttons = []channels.Button{{ID: "like", Text: "👍"}, {ID: "dislike", Text: "👎"}}
		}
		msgs = append(msgs, m)
	}
	msgs[3].To = "durov"                     // refused before any call
	msgs[5].Text = strings.Repeat("ж", 4097) // refused before any call
	res, errs := c.SendBatch(context.Background(), msgs)
	// 58 calls: 25 + 25 + 8.
	if n := requests.N(); n != 3 {
		t.Errorf("%d requests for 58 calls, want 3", n)
	}
	for i, m := range msgs {
		switch i {
		case 3, 5:
			channeltest.WantError(t, errs[i], channels.Invalid, "local")
			continue
		case 7:
			channeltest.WantError(t, errs[i], channels.NotReachable, "901")
			continue
		}
		if errs[i] != nil {
			t.Errorf("message %d: %v", i, errs[i])
			continue
		}
		peer, _ := strconv.ParseInt(m.To, 10, 64)
		sent := fake.SentTo(peer)
		if len(sent) != 1 {
			t.Errorf("message %d: %d sent", i, len(sent))
			continue
		}
		s := sent[0]
		if s.Text != m.Text || s.RandomID != int64(vk.RandomID(m.IdempotencyKey)) || res[i].ProviderID != strconv.FormatInt(s.MessageID, 10) {
			t.Errorf("message %d: sent %+v, result %+v", i, s, res[i])
		}
		if want := len(m.Buttons); len(s.Keyboard) != want {
			t.Errorf("message %d: keyboard %v, want %d rows", i, s.Keyboard, want)
		}
	}
	// The same batch again, as after a lost answer: VK's random_id
	// deduplication answers with the first ids and sends nothing.
	accepted := fake.Accepted()
	res2, errs2 := c.SendBatch(context.Background(), msgs)
	if fake.Accepted() != accepted {
		t.Errorf("a repeated batch sent %d more messages", fake.Accepted()-accepted)
	}
	for i := range msgs {
		if errs[i] == nil && (errs2[i] != nil || res2[i].ProviderID != res[i].ProviderID) {
			t.Errorf("message %d again: %v %+v, first %+v", i, errs2[i], res2[i], res[i])
		}
	}
}

func TestSendBatchWholeRequestFails(t *testing.T) {
	t.Parallel()
	fake := vkfake.New()
	t.Cleanup(fake.Close)
	bad := vk.New(vk.Config{Bot: channels.Bot{Token: "vk1.a.wrong", APIURL: fake.APIURL()}}, nil)
	_, errs := bad.SendBatch(context.Background(), []channels.Message{{To: "1", Text: "a"}, {To: "2", Text: "b"}})
	for _, err := range errs {
		channeltest.WantError(t, err, channels.Invalid, "5")
	}
	down := vk.New(vk.Config{Bot: channels.Bot{Token: vkfake.Token, APIURL: "http://127.0.0.1:1/method"}}, nil)
	_, errs = down.SendBatch(context.Background(), []channels.Message{{To: "1", Text: "a"}})
	channeltest.WantError(t, errs[0], channels.Transient, "network")
	if fake.Accepted() != 0 {
		t.Errorf("%d sent", fake.Accepted())
	}
}

// execute's answer as VK gives it: a failed call is false in "response",
// its error in execute_errors in call order, and VK may add an entry for
// execute itself (github.com/voronind/vk issue 42 shows one).
func TestSendBatchReadsExecuteErrors(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		body  string
		kinds []channels.ErrorKind // "" = sent
	}{
		"pairs in order": {`{"response":[101,false,103,false],"execute_errors":[{"method":"messages.send","error_code":901,"error_msg":"Can't send messages for users without permission"},{"method":"messages.send","error_code":900,"error_msg":"Can't send messages for users from blacklist"},{"method":"execute","error_code":900,"error_msg":"Can't send messages for users from blacklist"}]}`,
			[]channels.ErrorKind{"", channels.NotReachable, "", channels.Blocked}},
		"no error for a false": {`{"response":[false,7]}`, []channels.ErrorKind{channels.Transient, ""}},
		"short answer":         {`{"response":[5]}`, []channels.ErrorKind{"", channels.Transient}},
		"top-level error":      {`{"error":{"error_code":6,"error_msg":"Too many requests per second"}}`, []channels.ErrorKind{channels.RateLimited, channels.RateLimited}},
		"unreadable":           {`<html>`, []channels.ErrorKind{channels.Transient, channels.Transient}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/method/execute" || !strings.HasPrefix(r.FormValue("code"), "return [API.messages.send({") {
					t.Errorf("request %s code %q", r.URL.Path, r.FormValue("code"))
				}
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c := vk.New(vk.Config{Bot: channels.Bot{Token: vkfake.Token, APIURL: srv.URL + "/method"}}, nil)
			msgs := make([]channels.Message, len(tc.kinds))
			for i := range msgs {
				msgs[i] = channels.Message{IdempotencyKey: strconv.Itoa(i), To: strconv.Itoa(i + 1), Text: "x"}
			}
			res, errs := c.SendBatch(context.Background(), msgs)
			for i, want := range tc.kinds {
				if want == "" {
					if errs[i] != nil || res[i].ProviderID == "" {
						t.Errorf("call %d: %v %+v, want sent", i, errs[i], res[i])
					}
				} else if got := channels.KindOf(errs[i]); errs[i] == nil || got != want {
					t.Errorf("call %d: %q (%v), want %q", i, got, errs[i], want)
				}
			}
		})
	}
}

func TestFakeExecuteRefusesBadCode(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]string{
		`return [API.messages.send({"peer_id":"1","random_id":"1","message":"x"})];`: "",
		`return API.messages.send({"peer_id":1,"random_id":2,"message":"x"});`:       "",
		`var a = 1; return a;`:                      "code must be a return statement",
		`return [API.messages.send({"peer_id":1]`:   "arguments",
		`return [API.messages.send({"peer_id":1})`:  "unterminated",
		`return [API.messages.send({"a":[1]})];`:    "not a string or number",
		`return [API.messages.send({}) API.x({})];`: "after a call",
		`return [];`: "no API call",
	} {
		_, _, err := vkfake.ParseExecute(code)
		if (err == nil) != (want == "") || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", code, err, want)
		}
	}
	calls := make([]string, 26)
	for i := range calls {
		calls[i] = `API.messages.send({"peer_id":"1","random_id":"` + strconv.Itoa(i+1) + `","message":"x"})`
	}
	fake := vkfake.New()
	t.Cleanup(fake.Close)
	resp, err := http.PostForm(fake.APIURL()+"/execute", map[string][]string{"access_token": {vkfake.Token}, "v": {vk.Version},
		"code": {"return [" + strings.Join(calls, ",") + "];"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `"error_code":13`) || fake.Accepted() != 0 {
		t.Errorf("26 calls: %s, %d sent", body, fake.Accepted())
	}
}

// endedAfter is a context whose Err reports it ended once a request was
// answered, while its Done stays open, as a worker's batch context does
// when its consent hold ends during a request (worker/lease.go): the request
// under way finishes, and none is made after it.
type endedAfter struct {
	context.Context
	answered *atomic.Bool
}

func (c endedAfter) Err() error {
	if c.answered.Load() {
		return context.Canceled
	}
	return nil
}

// TestSendBatchStopsBetweenRequests: SendBatch asks its context before each
// request; the messages of the requests not made carry its error.
func TestSendBatchStopsBetweenRequests(t *testing.T) {
	t.Parallel()
	var answered atomic.Bool
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		n := strings.Count(r.FormValue("code"), "API.messages.send(")
		ids := make([]string, n)
		for i := range ids {
			ids[i] = strconv.Itoa(100 + i)
		}
		_, _ = w.Write([]byte(`{"response":[` + strings.Join(ids, ",") + `]}`))
		answered.Store(true)
	}))
	defer srv.Close()
	c := vk.New(vk.Config{Bot: channels.Bot{Token: vkfake.Token, APIURL: srv.URL + "/method"}}, nil)
	msgs := make([]channels.Message, 30)
	for i := range msgs {
		msgs[i] = channels.Message{IdempotencyKey: strconv.Itoa(i), To: strconv.Itoa(i + 1), Text: "x"}
	}
	res, errs := c.SendBatch(endedAfter{context.Background(), &answered}, msgs)
	if requests != 1 {
		t.Fatalf("%d requests, want 1: none after the context ended", requests)
	}
	for i := range msgs {
		switch {
		case i < vk.MaxExecuteCalls && (errs[i] != nil || res[i].ProviderID == ""):
			t.Errorf("message %d of the request made: %v %+v, want sent", i, errs[i], res[i])
		case i >= vk.MaxExecuteCalls && errs[i] != context.Canceled:
			t.Errorf("message %d of the request not made: %v, want %v", i, errs[i], context.Canceled)
		}
	}
}
