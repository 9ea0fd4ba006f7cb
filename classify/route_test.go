package classify

import (
	"os"
	"testing"

	"github.com/nudge-engine/nudge/campaigns"
)

// weeklyFeedback loads the bundled GrowFood campaign's answer step: the
// branches the misrouted replies went through.
func weeklyFeedback(t *testing.T) *campaigns.WaitReplyStep {
	t.Helper()
	src, err := os.ReadFile("../examples/growfood/weekly-feedback.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := campaigns.Parse("weekly-feedback.yaml", src)
	if err != nil || f.Def == nil || len(f.Problems) > 0 {
		t.Fatalf("parse: %v", err)
	}
	for _, s := range f.Def.Steps {
		if s.ID == "answer" {
			return s.WaitReply
		}
	}
	t.Fatal("no answer step")
	return nil
}

func TestRouteWeeklyFeedback(t *testing.T) {
	w := weeklyFeedback(t)
	c := New(nil)
	for _, tc := range []struct{ text, want string }{
		{"Нет, не понравилось", "care"},
		{"Не понравилось совсем", "care"},
		{"Не вкусно и дорого", "care"},
		{"It was not tasty", "care"},
		{"Не то чтобы плохо, но не вкусно", "care"},
		{"Никак не могу сказать что понравилось", "care"},
		{"not bad at all", "menu"},
		{"No complaints, everything was great", "menu"},
		{"Не могу не похвалить сырники", "menu"},
		{"Вкусно, но курьер опоздал на два часа", "care"},
		{"да, понравилось", "menu"},
		{"Курьер молодец", "menu"},
		{"плохо", "care"},
		// "Could have been better" and "if not for …" are complaints.
		{"Можно было и лучше", "care"},
		{"Неплохо, но можно лучше", "care"},
		{"Отстой", "care"},
		{"Всё отлично, если бы не курьер", "care"},
		{"Было бы лучше, если бы не пересолили", "care"},
		{"It would be great if it weren't for the cold soup", "care"},
		// A score answers the question too: four fifths and more is praise,
		// two fifths and less a complaint.
		{"5", "menu"},
		{"5+", "menu"},
		{"на 5", "menu"},
		{"10/10", "menu"},
		{"4 из 5 звезд", "menu"},
		{"2", "care"},
		{"3 из 10", "care"},
		{"на пятерку", "menu"},
		{"пять из пяти", "menu"},
		{"5 баллов из 5", "menu"},
		{"five out of five", "menu"},
		{"ставлю кол", "care"},
	} {
		got := c.Route(w, "", tc.text)
		if got.Goto != tc.want {
			t.Errorf("%q: goes to %q (rule %s: %s, %s %.2f), want %q", tc.text, got.Goto, got.Rule, got.Detail, got.Sentiment, got.Confidence, tc.want)
		}
	}
	if got := c.Route(w, "dislike", ""); got.Goto != "care" || got.Rule != "button" {
		t.Errorf("button: %+v", got)
	}
}

func TestKeywordNeverMatchesInsideNegation(t *testing.T) {
	c := New(nil)
	branches := []campaigns.ReplyBranch{
		{Keywords: []string{"не понравилось"}, Goto: "care"},
		{Keywords: []string{"понравилось", "tasty"}, Goto: "menu"},
		{Keywords: []string{"позвоните", "call me"}, Goto: "call"},
	}
	for _, tc := range []struct{ text, rule, goTo string }{
		{"не понравилось", "keyword", "care"}, // the keyword holds the negation
		{"понравилось, спасибо", "keyword", "menu"},
		{"не звоните мне", "", ""}, // a plain keyword, negated
		{"позвоните мне, пожалуйста", "keyword", "call"},
		{"not tasty", "sentiment", ""},                 // no sentiment branch here
		{"не могу сказать что не понравилось", "", ""}, // two negations
	} {
		got := c.Classify(Input{Text: tc.text, Branches: branches})
		if got.Goto != tc.goTo || tc.rule != "" && got.Rule != tc.rule {
			t.Errorf("%q: rule %s goto %q (%s), want %s %q", tc.text, got.Rule, got.Goto, got.Detail, tc.rule, tc.goTo)
		}
	}
}

func TestRouteOnUnsure(t *testing.T) {
	c := New(nil)
	c.MinConfidence = 2 // above any probability: every text reply is unsure
	w := &campaigns.WaitReplyStep{
		Branches: []campaigns.ReplyBranch{
			{Button: "like", Goto: "menu"},
			{Keywords: []string{"меню"}, Goto: "menu"},
			{Sentiment: "positive", Goto: "menu"},
			{Sentiment: "negative", Goto: "care"},
		},
		OnOther: "other",
	}
	if got := c.Route(w, "", "очень вкусно"); got.Rule != "unsure" || got.Goto != "other" {
		t.Errorf("without on_unsure: %+v", got)
	}
	w.OnUnsure = "ask-again"
	if got := c.Route(w, "", "очень вкусно"); got.Rule != "unsure" || got.Goto != "ask-again" {
		t.Errorf("on_unsure step: %+v", got)
	}
	w.OnUnsure = campaigns.OnUnsureHandoff
	if got := c.Route(w, "", "очень вкусно"); got.Rule != "unsure" || got.Goto != "" {
		t.Errorf("on_unsure handoff: %+v", got)
	}
	if got := c.Route(w, "", "пришлите меню"); got.Rule != "keyword" || got.Goto != "menu" {
		t.Errorf("a keyword without sentiment decides before the sentiment: %+v", got)
	}
	if got := c.Route(w, "like", ""); got.Rule != "button" || got.Goto != "menu" {
		t.Errorf("button: %+v", got)
	}
	c.MinConfidence = 0
	if got := c.Route(w, "", "когда следующая доставка?"); got.Goto != "other" {
		t.Errorf("a question: %+v", got)
	}
}

// A middling score is neutral and a number in a sentence is not a score;
// a number as a branch keyword is an option's label, matched whatever the
// reply's sentiment.
func TestRatingsAndNumberKeywords(t *testing.T) {
	c := New(nil)
	for _, tc := range []struct {
		text string
		want Sentiment
	}{
		{"3", Neutral}, {"6/10", Neutral}, {"на троечку", Neutral}, {"курьер опоздал на 5 минут", Negative},
	} {
		if p := c.Sentiment(tc.text); p.Sentiment != tc.want || p.Unsure {
			t.Errorf("%q: %s %.2f (%v), want %s", tc.text, p.Sentiment, p.Confidence, p.Lexicon.Terms, tc.want)
		}
	}
	branches := []campaigns.ReplyBranch{{Keywords: []string{"1", "один"}, Goto: "first"}, {Keywords: []string{"2"}, Goto: "second"}}
	for text, want := range map[string]string{"1": "first", "1 пожалуйста": "first", "один": "first", "2": "second", "вариант 2, спасибо": "second"} {
		if got := c.Classify(Input{Text: text, Branches: branches}); got.Goto != want || got.Rule != "keyword" {
			t.Errorf("%q: goes to %q by %s, want %q", text, got.Goto, got.Rule, want)
		}
	}
}
