package vk

import (
	"context"
	"net/url"
	"strconv"

	"github.com/nudge-engine/nudge/channels"
)

// Documents go through VK's docs upload flow: docs.getMessagesUploadServer
// (peer_id, type=doc) → a multipart POST of the file in field "file" →
// docs.save(file, title) → attachment doc<owner>_<id>[_<access_key>].

// savedDoc is the answer of docs.save (API 5.103+: a typed object).
type savedDoc struct {
	Type string `json:"type"`
	Doc  struct {
		ID        int64  `json:"id"`
		OwnerID   int64  `json:"owner_id"`
		AccessKey string `json:"access_key"`
	} `json:"doc"`
}

// UploadDoc downloads the document and uploads it for messages to peer,
// returning the attachment string.
func (c *Client) UploadDoc(ctx context.Context, peer string, d channels.DocumentRef) (string, error) {
	f, err := channels.Download(ctx, c.api.HC, d.URL, nil, channels.MediaLimitsOf(channels.VK).MaxDocument, "vk document download")
	if err != nil {
		if tl, ok := channels.IsTooLarge(err); ok {
			return "", invalid("document %s is over VK's %s", d.FileName(), channels.SizeString(tl.Max))
		}
		return "", err
	}
	var srv uploadServer
	if err := c.Call(ctx, "docs.getMessagesUploadServer", url.Values{"peer_id": {peer}, "type": {"doc"}}, &srv); err != nil {
		return "", err
	}
	if srv.UploadURL == "" {
		return "", &channels.Error{Kind: channels.Transient, Code: "http_200", Message: "docs.getMessagesUploadServer: no upload_url"}
	}
	var up struct {
		File string `json:"file"`
	}
	if err := c.postFile(ctx, srv.UploadURL, "file", d.FileName(), f.Data, &up); err != nil {
		return "", err
	}
	if up.File == "" {
		return "", invalid("vk file upload: the upload server took no file")
	}
	var saved savedDoc
	if err := c.Call(ctx, "docs.save", url.Values{"file": {up.File}, "title": {d.FileName()}}, &saved); err != nil {
		return "", err
	}
	if saved.Doc.ID == 0 {
		return "", &channels.Error{Kind: channels.Transient, Code: "http_200", Message: "docs.save: no document saved"}
	}
	s := "doc" + strconv.FormatInt(saved.Doc.OwnerID, 10) + "_" + strconv.FormatInt(saved.Doc.ID, 10)
	if saved.Doc.AccessKey != "" {
		s += "_" + saved.Doc.AccessKey
	}
	return s, nil
}
