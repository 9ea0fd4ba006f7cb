package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/messenger/messengerfake"
	"github.com/nudge-engine/nudge/channels/viber/viberfake"
	"github.com/nudge-engine/nudge/channels/vk/vkfake"
	"github.com/nudge-engine/nudge/channels/whatsapp/whatsappfake"
	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/server"
)

// The channel set the roles build fetches what customers send through each
// messenger's own client: a photo posted to the mounted webhook comes back
// as the same bytes from channelSet.Fetch, the inbox's Fetcher.
func TestChannelSetFetchesAttachmentsPerProvider(t *testing.T) {
	wa := whatsappfake.New(whatsappfake.Options{})
	ms := messengerfake.New(messengerfake.Options{})
	vb := viberfake.New()
	vkf := vkfake.New()
	for _, c := range []interface{ Close() }{wa, ms, vb, vkf} {
		t.Cleanup(c.Close)
	}
	vars := map[string]string{
		"NUDGE_WHATSAPP_TOKEN": wa.Options().Token, "NUDGE_WHATSAPP_PHONE_NUMBER_ID": wa.Options().PhoneNumberID,
		"NUDGE_WHATSAPP_API_URL": wa.URL(), "NUDGE_META_APP_SECRET": wa.Options().AppSecret,
		"NUDGE_MESSENGER_PAGE_TOKEN": ms.Options().PageToken, "NUDGE_MESSENGER_API_URL": ms.URL(),
		"NUDGE_VIBER_TOKEN": viberfake.Token, "NUDGE_VIBER_API_URL": vb.URL,
		"NUDGE_VK_TOKEN": vkfake.Token, "NUDGE_VK_API_URL": vkf.APIURL(), "NUDGE_VK_GROUP_ID": strconv.Itoa(vkfake.GroupID),
		"NUDGE_VK_SECRET": vkf.Secret, "NUDGE_VK_CONFIRMATION": vkf.Confirmation,
	}
	if ms.Options().AppSecret != wa.Options().AppSecret {
		t.Fatal("the Meta fakes sign with different app secrets")
	}
	e := &config.Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
	var mu sync.Mutex
	var got []channels.Event
	sink := channels.SinkFunc(func(_ context.Context, evs []channels.Event) (channels.Ack, error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, evs...)
		return channels.Ack{}, nil
	})
	cs := loadChannels(e, "", sink, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	mux := server.NewMux()
	cs.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	hook := func(k channels.Kind) string { return srv.URL + channels.WebhookPath(k, channels.DefaultAccount) }
	wa.SetWebhook(hook(channels.WhatsApp))
	ms.SetWebhook(hook(channels.Messenger))
	vkf.SetCallback(hook(channels.VK))

	ctx := context.Background()
	photo := func(k channels.Kind) []byte {
		return append([]byte{0xff, 0xd8, 0xff, 0xe0}, bytes.Repeat([]byte(k), 300)...)
	}
	post := map[channels.Kind]func() error{
		channels.WhatsApp: func() error {
			_, err := wa.Media(ctx, "79161234567", "Анна", "image", wa.AddMedia("image/jpeg", "", photo(channels.WhatsApp)), "", false)
			return err
		},
		channels.Messenger: func() error {
			_, err := ms.Attachment(ctx, "6251234567890123", "image", ms.AddFile("image/jpeg", "", photo(channels.Messenger)), 0)
			return err
		},
		channels.Viber: func() error {
			st, _, err := vb.PostTo(ctx, hook(channels.Viber), vb.MediaMessage(viberfake.UserID(1), "picture", vb.AddFile("image/jpeg", "a.jpg", photo(channels.Viber)), ""))
			if err == nil && st != http.StatusOK {
				t.Errorf("viber webhook: %d", st)
			}
			return err
		},
		channels.VK: func() error {
			st, _, err := vkf.Post(ctx, vkf.MessageNewWith(493756402, "", vkf.PhotoAttachment(493756402, photo(channels.VK))))
			if err == nil && st != http.StatusOK {
				t.Errorf("vk callback: %d", st)
			}
			return err
		},
	}
	for _, k := range []channels.Kind{channels.WhatsApp, channels.Messenger, channels.Viber, channels.VK} {
		mu.Lock()
		got = nil
		mu.Unlock()
		if err := post[k](); err != nil {
			t.Fatalf("%s webhook: %v", k, err)
		}
		mu.Lock()
		evs := got
		mu.Unlock()
		if len(evs) != 1 || len(evs[0].Attachments) != 1 || evs[0].Channel != k {
			t.Fatalf("%s events %+v", k, evs)
		}
		ev := evs[0]
		f, err := cs.Fetch(ctx, ev.Channel, ev.Account, ev.Attachments[0], 1<<20)
		if err != nil {
			t.Fatalf("%s fetch: %v", k, err)
		}
		if !bytes.Equal(f.Data, photo(k)) || f.MIME != "image/jpeg" {
			t.Errorf("%s fetched %d bytes %q", k, len(f.Data), f.MIME)
		}
	}
	if _, err := cs.Fetch(ctx, channels.SMS, "", channels.Attachment{Kind: channels.Photo, URL: "http://x"}, 1<<20); err == nil {
		t.Error("a channel without a fetcher fetched")
	}
}
