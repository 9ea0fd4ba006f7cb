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

// PhotoCache keeps the attachment of each uploaded image URL per account,
// so an image is uploaded once (channels/uploads.Store in production).
type PhotoCache interface {
	Resolve(ctx context.Context, channel, account, url string, upload func(context.Context) (string, error)) (string, error)
}

// UsePhotoCache makes Send reuse uploaded photos through pc. Without one,
// every send uploads its images again.
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

// uploadImages replaces every http(s) image of m with its uploaded photo
// attachment; attachments given as such are kept.
func (c *Client) uploadImages(ctx context.Context, m channels.Message) (channels.Message, error) {
	resolve := func(u string) (string, error) {
		if u == "" || attachmentRe.MatchString(u) {
			return u, nil
		}
		up := func(ctx context.Context) (string, error) { return c.UploadPhoto(ctx, m.To, u) }
		if c.photos == nil {
			return up(ctx)
		}
		return c.photos.Resolve(ctx, string(channels.VK), c.cfg.Account, u, up)
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
	up, err := c.postPhoto(ctx, srv.UploadURL, "image."+ext, f.Data)
	if err != nil {
		return "", err
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

// postPhoto sends the image to the upload server. Its URL is absolute (a
// pu.vk.com host) and carries its own signature: no token is sent.
func (c *Client) postPhoto(ctx context.Context, uploadURL, name string, data []byte) (uploaded, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("photo", name)
	if err == nil {
		_, err = fw.Write(data)
	}
	if err == nil {
		err = mw.Close()
	}
	if err != nil {
		return uploaded{}, fmt.Errorf("vk photo upload: %w", err)
	}
	api := channels.API{BaseURL: strings.TrimSuffix(uploadURL, "/"), HC: c.api.HC, Now: c.api.Now}
	resp, raw, err := api.Post(ctx, "", mw.FormDataContentType(), body.Bytes(), nil, "vk photo upload", 1<<20)
	if err != nil {
		return uploaded{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return uploaded{}, channels.HTTPStatusError("vk photo upload", resp.StatusCode)
	}
	var up uploaded
	if err := json.Unmarshal(raw, &up); err != nil {
		return uploaded{}, &channels.Error{Kind: channels.Transient, Code: "http_200", Message: "vk photo upload: unreadable answer"}
	}
	// An upload server that did not take the file answers photo "[]".
	if up.Photo == "" || up.Photo == "[]" || up.Hash == "" {
		return uploaded{}, invalid("vk photo upload: the upload server refused the image")
	}
	return up, nil
}
