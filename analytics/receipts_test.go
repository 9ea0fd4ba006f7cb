package analytics

import (
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/channels"
)

// The funnel's SQL list of channels without delivery receipts is the
// fallback ladder's (channels.HasDeliveryReceipts).
func TestAcceptedIsDeliveredMatchesReceipts(t *testing.T) {
	for _, k := range channels.Kinds {
		listed := strings.Contains(acceptedIsDelivered, "'"+string(k)+"'")
		if listed == channels.HasDeliveryReceipts(k) {
			t.Errorf("%s: listed %v in acceptedIsDelivered, HasDeliveryReceipts %v", k, listed, channels.HasDeliveryReceipts(k))
		}
	}
}
