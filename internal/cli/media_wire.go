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
	for _, acc := range cs.Registry.Accounts(channels.VK) {
		if s, ok := cs.Registry.SenderOf(channels.VK, acc); ok {
			if c, ok := s.(*vk.Client); ok {
				c.UsePhotoCache(store)
			}
		}
	}
}
