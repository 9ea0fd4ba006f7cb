package channels

import "testing"

func TestDocumentNamesAndAlbums(t *testing.T) {
	for _, c := range []struct {
		d         DocumentRef
		name, ext string
	}{
		{DocumentRef{URL: "https://shop.example/r/A-42.PDF?sig=1#p"}, "A-42.PDF", "pdf"},
		{DocumentRef{URL: "https://shop.example/r/A-42.pdf", Name: "Чек.pdf"}, "Чек.pdf", "pdf"},
		{DocumentRef{URL: "https://shop.example/receipt"}, "receipt", ""},
	} {
		if c.d.FileName() != c.name || c.d.Ext() != c.ext {
			t.Errorf("%+v: %q %q, want %q %q", c.d, c.d.FileName(), c.d.Ext(), c.name, c.ext)
		}
	}
	tg, wa := MediaLimitsOf(Telegram), MediaLimitsOf(WhatsApp)
	if tg.Album(1) || !tg.Album(2) || !wa.Album(3) || MediaLimitsOf(SMS).Album(3) || !tg.DocumentTypeOK("pdf") || tg.DocumentTypeOK("docx") || !wa.DocumentTypeOK("docx") {
		t.Errorf("limits: telegram %+v whatsapp %+v", tg, wa)
	}
}
