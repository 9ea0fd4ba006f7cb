package vk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nudge-engine/nudge/channels"
)

// PhotoCache keeps the attachment of each uploaded URL per account and
// kind ("photo", "doc"), so a file is uploaded once (channels/uploads.Store
// in production).
type PhotoCache interface {
	Resolve(ctx context.Context, channel, account, kind, url string, upload func(context.Context) (string, error)) (string, error)
}

// UsePhotoCache makes Send reuse uploaded photos and documents through pc.
// Without one, every send uploads its files again.
func (c *Client) UsePhotoCache(pc PhotoCache) { c.photos = pc }

// uploadServer is the answer of photos.getMessagesUploadServer.
type uploadServer struct {
	UploadURL string `json:"upload_url"`
	AlbumID   int64  `json:"album_id"`
	GroupID   int64  `json:"group_id"`
}

// uploaded is what the upload server answers (not wrapped in "response").
type uploaded struct {
	Server int64  `json:"server"`
	Photo  string `json:"photo"`
	Hash   string `json:"hash"`
}

// savedPhoto is one element of photos.saveMessagesPhoto's answer.
type savedPhoto struct {
	ID        int64  `json:"id"`
	OwnerID   int64  `json:"owner_id"`
	AccessKey string `json:"access_key"`
}

// Attachment is the messages.send form of the photo:
// photo<owner>_<id>[_<access_key>].
func (p savedPhoto) Attachment() string {
	s := "photo" + strconv.FormatInt(p.OwnerID, 10) + "_" + strconv.FormatInt(p.ID, 10)
	if p.AccessKey != "" {
		s += "_" + p.AccessKey
	}
	return s
}

// cached runs upload through the cache, when there is one.
func (c *Client) cached(ctx context.Context, kind, src string, upload func(context.Context) (string, error)) (string, error) {
	if c.photos == nil {
		return upload(ctx)
	}
	return c.photos.Resolve(ctx, string(channels.VK), c.cfg.Account, kind, src, upload)
}

// uploadMedia replaces every http(s) image of m with its uploaded photo
// attachment (attachments given as such are kept) and uploads its
// document (docs.go).
func (c *Client) uploadMedia(ctx context.Context, m channels.Message) (channels.Message, error) {
	resolve := func(u string) (string, error) {
		if u == "" || attachmentRe.MatchString(u) {
			return u, nil
		}
		return c.cached(ctx, "photo", u, func(ctx context.Context) (string, error) { return c.UploadPhoto(ctx, m.To, u) })
	}
	var err error
	if m.ImageURL, err = resolve(m.ImageURL); err != nil {
		return m, err
	}
	imgs := make([]string, len(m.Images))
	for i, u := range m.Images {
		if imgs[i], err = resolve(u); err != nil {
			return m, err
		}
	}
	m.Images = imgs
	if d := m.Document; d != nil && !attachmentRe.MatchString(d.URL) {
		ref, err := c.cached(ctx, "doc", d.URL, func(ctx context.Context) (string, error) { return c.UploadDoc(ctx, m.To, *d) })
		if err != nil {
			return m, err
		}
		m.Document = &channels.DocumentRef{URL: ref, Name: d.Name}
	}
	return m, nil
}

// UploadPhoto downloads the image at src and uploads it for messages to
// peer: photos.getMessagesUploadServer, a multipart POST of the bytes in
// field "photo" to the upload URL, photos.saveMessagesPhoto. It returns the
// attachment string.
func (c *Client) UploadPhoto(ctx context.Context, peer, src string) (string, error) {
	f, err := channels.Download(ctx, c.api.HC, src, nil, channels.MediaLimitsOf(channels.VK).MaxImage, "vk image download")
	if err != nil {
		if tl, ok := channels.IsTooLarge(err); ok {
			return "", invalid("image %s is over VK's %s", src, channels.SizeString(tl.Max))
		}
		return "", err
	}
	ct := http.DetectContentType(f.Data)
	ext, ok := map[string]string{"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif"}[ct]
	if !ok {
		return "", invalid("image %s is %s; VK takes JPG, PNG or GIF", src, ct)
	}
	var srv uploadServer
	if err := c.Call(ctx, "photos.getMessagesUploadServer", url.Values{"peer_id": {peer}}, &srv); err != nil {
		return "", err
	}
	if srv.UploadURL == "" {
		return "", &channels.Error{Kind: channels.Transient, Code: "http_200", Message: "photos.getMessagesUploadServer: no upload_url"}
	}
	var up uploaded
	if err := c.postFile(ctx, srv.UploadURL, "photo", "image."+ext, f.Data, &up); err != nil {
		return "", err
	}
	// An upload server that did not take the file answers photo "[]".
	if up.Photo == "" || up.Photo == "[]" || up.Hash == "" {
		return "", invalid("vk photo upload: the upload server refused the image")
	}
	var saved []savedPhoto
	v := url.Values{"server": {strconv.FormatInt(up.Server, 10)}, "photo": {up.Photo}, "hash": {up.Hash}}
	if err := c.Call(ctx, "photos.saveMessagesPhoto", v, &saved); err != nil {
		return "", err
	}
	if len(saved) == 0 || saved[0].ID == 0 {
		return "", &channels.Error{Kind: channels.Transient, Code: "http_200", Message: "photos.saveMessagesPhoto: no photo saved"}
	}
	return saved[0].Attachment(), nil
}

// postFile sends a file in a multipart field to an upload server and
// decodes its answer into out. The URL is absolute (a pu.vk.com host) and
// carries its own signature: no token is sent.
func (c *Client) postFile(ctx context.Context, uploadURL, field, name string, data []byte, out any) error {
	op := "vk " + field + " upload"
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile(field, name)
	if err == nil {
		_, err = fw.Write(data)
	}
	if err == nil {
		err = mw.Close()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	api := channels.API{BaseURL: strings.TrimSuffix(uploadURL, "/"), HC: c.api.HC, Now: c.api.Now}
	resp, raw, err := api.Post(ctx, "", mw.FormDataContentType(), body.Bytes(), nil, op, 1<<20)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return channels.HTTPStatusError(op, resp.StatusCode)
	}
	var refused struct {
		Error string `json:"error"`
		Descr string `json:"error_descr"`
	}
	if json.Unmarshal(raw, &refused) == nil && refused.Error != "" {
		return invalid("%s: %s %s", op, refused.Error, refused.Descr)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &channels.Error{Kind: channels.Transient, Code: "http_200", Message: op + ": unreadable answer"}
	}
	return nil
}
