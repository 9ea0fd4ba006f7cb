package email

import (
	"bytes"
	"context"
	"fmt"

	gomail "github.com/wneessen/go-mail"

	"github.com/nudge-engine/nudge/channels"
)

// attach downloads the message's document and attaches it under its file
// name: a PDF receipt arrives as a file, not a link. A document over the
// channel's MaxDocument, or one that cannot be fetched, fails the send
// (Invalid for a 4xx or an oversize file, Transient for a 5xx or network).
func (c *Client) attach(ctx context.Context, msg *gomail.Msg, d *channels.DocumentRef) error {
	max := channels.MediaLimitsOf(channels.Email).MaxDocument
	f, err := channels.Download(ctx, c.hc, d.URL, nil, max, "email attachment download")
	if err != nil {
		if tl, ok := channels.IsTooLarge(err); ok {
			return &channels.Error{Kind: channels.Invalid, Code: "nudge_limits",
				Message: fmt.Sprintf("attachment %s is over %s", d.FileName(), channels.SizeString(tl.Max))}
		}
		return err
	}
	var opts []gomail.FileOption
	if f.MIME != "" {
		opts = append(opts, gomail.WithFileContentType(gomail.ContentType(f.MIME)))
	}
	msg.AttachReadSeeker(d.FileName(), bytes.NewReader(f.Data), opts...)
	return nil
}
