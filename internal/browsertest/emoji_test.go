package browsertest

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// colouredPixels draws text at 48px on a canvas in the browser and counts
// the pixels whose colour is not a shade of grey: a colour emoji font paints
// many, while the box drawn for a character no font has (as plain text is)
// is monochrome.
const colouredPixels = `(text => {
  const c = document.createElement('canvas'); c.width = 400; c.height = 80;
  const g = c.getContext('2d'); g.font = '48px sans-serif'; g.textBaseline = 'top'; g.fillStyle = '#000';
  g.fillText(text, 4, 4);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i+3] > 128 && Math.max(d[i], d[i+1], d[i+2]) - Math.min(d[i], d[i+1], d[i+2]) > 60) n++;
  }
  return n;
})`

// TestEmojiRenderInColour: the browser the tests (and make screenshots)
// use has a colour emoji font (scripts/chromium installs
// fonts-noto-color-emoji), so the buttons' 👍 and 👎 and the menu's 🥗 show as
// customers see them, not as boxes.
func TestEmojiRenderInColour(t *testing.T) {
	ctx := New(t)
	var emoji, plain int
	Run(t, ctx, 30*time.Second,
		chromedp.Navigate("about:blank"),
		chromedp.Evaluate(colouredPixels+`('👍 👎 🥗')`, &emoji),
		chromedp.Evaluate(colouredPixels+`('Не очень ■')`, &plain),
	)
	if plain != 0 {
		t.Fatalf("black text painted %d coloured pixels: the measure is wrong", plain)
	}
	if emoji < 500 {
		t.Fatalf("👍 👎 🥗 painted %d coloured pixels: no colour emoji font (run scripts/chromium, which installs fonts-noto-color-emoji)", emoji)
	}
	t.Logf("emoji: %d coloured pixels", emoji)
}
