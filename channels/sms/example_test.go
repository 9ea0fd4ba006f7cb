package sms_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/sms"
	"github.com/nudge-engine/nudge/channels/sms/smsfake"
)

// Sending through the Twilio fake exactly as through Twilio: only APIURL differs.
func Example() {
	fake := smsfake.New(smsfake.Options{})
	defer fake.Close()
	o := fake.Options()
	client := sms.New(sms.Config{APIURL: fake.URL(), AccountSID: o.AccountSID, AuthToken: o.AuthToken, From: o.From}, nil)

	res, err := client.Send(context.Background(), channels.Message{
		To:   "+79161234567",
		Text: "Ваше меню на неделю готово / Your weekly menu is ready",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.HasPrefix(res.ProviderID, "SM"), res.Segments)

	_, err = client.Send(context.Background(), channels.Message{To: "8 916 123", Text: "x"})
	fmt.Println(channels.KindOf(err))
	// Output:
	// true 1
	// invalid
}
