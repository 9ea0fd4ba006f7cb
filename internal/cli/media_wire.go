package cli

import (
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/uploads"
	"github.com/nudge-engine/nudge/channels/vk"
)

// useUploads gives the adapters that upload media before sending (VK
// photos) the shared Postgres cache, so each image is uploaded once per
// account across every worker process.
func (cs *channelSet) useUploads(store *uploads.Store) {
	if s, ok := cs.Registry.Sender(channels.VK); ok {
		if c, ok := s.(*vk.Client); ok {
			c.UsePhotoCache(store)
		}
	}
}
