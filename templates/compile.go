package templates

// Parsing, checking and caching a variant's templates.

import (
	"fmt"
	htmltemplate "html/template"
	"strings"
	"sync"
	texttemplate "text/template"
	"text/template/parse"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
)

// compiled is a parsed variant with where it came from; pool holds clones
// whose functions are bound to their own execState.
type compiled struct {
	v            campaigns.Variant
	chanKey, loc string
	lang         string // "ru" or "en": the language of dates and money
	text         *texttemplate.Template
	html         *htmltemplate.Template
	telegramHTML bool
	parts        partNames
	pool         sync.Pool
}

// partNames are the template names of the repeated parts, built once.
type partNames struct {
	buttonText, buttonURL, params, images []string
	cards                                 [][]string // per carousel card, its params
}

type clone struct {
	text *texttemplate.Template
	html *htmltemplate.Template
	st   *execState
}

// compiled returns the parsed variant for (version, campaign, name, ch,
// subscriber locale), from the cache when version is set.
func (r *Renderer) compiled(version string, def *campaigns.Definition, name string, ch channels.Kind, locale string) (*compiled, error) {
	campaign := ""
	if def != nil {
		campaign = def.ID
	}
	key := cacheKey{campaign: campaign, version: version, name: name, ch: ch, locale: locale}
	if version != "" {
		r.mu.RLock()
		c := r.cache[key]
		r.mu.RUnlock()
		if c != nil {
			return c, nil
		}
	}
	v, chanKey, loc, err := Variant(def, name, ch, locale)
	if err != nil {
		return nil, &Error{Template: name, Channel: ch, Err: err}
	}
	c, part, err := compile(ch, v)
	if err != nil {
		return nil, &Error{Template: name, Channel: ch, Variant: chanKey, Locale: loc, Part: part, Rule: RuleSyntax,
			Err: fmt.Errorf("%w: %w", ErrSyntax, err)}
	}
	c.v, c.chanKey, c.loc, c.lang = v, chanKey, loc, "en"
	if base, _, _ := strings.Cut(loc, "-"); base == "ru" {
		c.lang = "ru"
	}
	if version != "" {
		r.mu.Lock()
		if old := r.cache[key]; old != nil {
			c = old
		} else {
			r.cache[key] = c
		}
		r.mu.Unlock()
	}
	return c, nil
}

func compile(ch channels.Kind, v campaigns.Variant) (*compiled, string, error) {
	c := &compiled{telegramHTML: ch == channels.Telegram}
	c.text = texttemplate.New("").Funcs(funcMap(&execState{})).Option("missingkey=error")
	add := func(part, src string, escape bool) error {
		tr, err := parseCheck(part, src)
		if err != nil {
			return err
		}
		if escape {
			escapeTree(tr.Root)
		}
		_, err = c.text.AddParseTree(part, tr)
		return err
	}
	parts := []struct {
		name, src string
		escape    bool
	}{{"text", v.Text, c.telegramHTML}, {"subject", v.Subject, false}, {"image", v.Image, false}}
	for i, b := range v.Buttons {
		c.parts.buttonText = append(c.parts.buttonText, fmt.Sprintf("buttons[%d].text", i))
		c.parts.buttonURL = append(c.parts.buttonURL, fmt.Sprintf("buttons[%d].url", i))
		parts = append(parts, struct {
			name, src string
			escape    bool
		}{c.parts.buttonText[i], b.Text, false}, struct {
			name, src string
			escape    bool
		}{c.parts.buttonURL[i], b.URL, false})
	}
	for i, src := range v.Images {
		c.parts.images = append(c.parts.images, fmt.Sprintf("images[%d]", i))
		parts = append(parts, struct {
			name, src string
			escape    bool
		}{c.parts.images[i], src, false})
	}
	if d := v.Document; d != nil {
		parts = append(parts, struct {
			name, src string
			escape    bool
		}{"document.url", d.URL, false}, struct {
			name, src string
			escape    bool
		}{"document.name", d.Name, false})
	}
	if v.WhatsAppTemplate != nil {
		for i, p := range v.WhatsAppTemplate.Params {
			c.parts.params = append(c.parts.params, fmt.Sprintf("whatsapp_template.params[%d]", i))
			parts = append(parts, struct {
				name, src string
				escape    bool
			}{c.parts.params[i], p, false})
		}
		for i, card := range v.WhatsAppTemplate.Cards {
			names := make([]string, len(card.Params))
			for j, p := range card.Params {
				names[j] = fmt.Sprintf("whatsapp_template.cards[%d].params[%d]", i, j)
				parts = append(parts, struct {
					name, src string
					escape    bool
				}{names[j], p, false})
			}
			c.parts.cards = append(c.parts.cards, names)
		}
	}
	for _, p := range parts {
		if err := add(p.name, p.src, p.escape); err != nil {
			return nil, p.name, err
		}
	}
	if v.HTML != "" && ch == channels.Email {
		h, err := parseHTML("html", v.HTML, funcMap(&execState{}))
		if err != nil {
			return nil, "html", err
		}
		c.html = h
	}
	c.pool.New = func() any {
		st := &execState{loc: time.UTC, lang: "en"}
		cl := &clone{st: st}
		t, err := c.text.Clone()
		if err != nil {
			panic(fmt.Sprintf("templates: clone of an unexecuted text template failed: %v", err))
		}
		cl.text = t.Funcs(funcMap(st))
		if c.html != nil {
			h, err := c.html.Clone()
			if err != nil {
				panic(fmt.Sprintf("templates: clone of an unexecuted html template failed: %v", err))
			}
			cl.html = h.Funcs(funcMap(st))
		}
		return cl
	}
	return c, "", nil
}

// builtins are text/template's functions that templates may call ("call"
// is left out: data holds no functions to call).
var builtins = func() map[string]any {
	m := map[string]any{}
	for _, n := range []string{"and", "or", "not", "len", "index", "slice", "print", "printf", "println", "html", "js", "urlquery", "eq", "ne", "lt", "le", "gt", "ge"} {
		m[n] = fmt.Sprint
	}
	return m
}()

// parseCheck parses one part and rejects what templates may not do: define
// or invoke templates, and range over a number literal.
func parseCheck(name, src string) (*parse.Tree, error) {
	trees, err := parse.Parse(name, src, "", "", funcMap(&execState{}), builtins)
	if err != nil {
		return nil, err
	}
	if len(trees) != 1 || trees[name] == nil {
		return nil, fmt.Errorf("%s: {{define}} and {{block}} are not allowed in message templates", name)
	}
	tr := trees[name]
	if err := checkNodes(tr.Root); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return tr, nil
}

func parseHTML(name, src string, fm map[string]any) (*htmltemplate.Template, error) {
	tr, err := parseCheck(name, src)
	if err != nil {
		return nil, err
	}
	h := htmltemplate.New(name).Funcs(fm).Option("missingkey=error")
	if _, err := h.AddParseTree(name, tr); err != nil {
		return nil, err
	}
	return h, nil
}

func checkNodes(n parse.Node) error {
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return nil
		}
		for _, c := range x.Nodes {
			if err := checkNodes(c); err != nil {
				return err
			}
		}
	case *parse.TemplateNode:
		return fmt.Errorf("{{template %q}} is not allowed in message templates", x.Name)
	case *parse.RangeNode:
		for _, cmd := range x.Pipe.Cmds {
			for _, a := range cmd.Args {
				if _, ok := a.(*parse.NumberNode); ok {
					return fmt.Errorf("range over a number is not allowed in message templates")
				}
			}
		}
		if err := checkNodes(x.List); err != nil {
			return err
		}
		return checkNodes(x.ElseList)
	case *parse.IfNode:
		if err := checkNodes(x.List); err != nil {
			return err
		}
		return checkNodes(x.ElseList)
	case *parse.WithNode:
		if err := checkNodes(x.List); err != nil {
			return err
		}
		return checkNodes(x.ElseList)
	}
	return nil
}

// escapeTree appends the HTML escape function to every pipeline that prints,
// so that each value reaches the text escaped while the literal markup of the
// template stays as written.
func escapeTree(n parse.Node) {
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return
		}
		for _, c := range x.Nodes {
			escapeTree(c)
		}
	case *parse.ActionNode:
		if len(x.Pipe.Decl) > 0 {
			return // {{$x := …}} prints nothing
		}
		x.Pipe.Cmds = append(x.Pipe.Cmds, &parse.CommandNode{
			NodeType: parse.NodeCommand,
			Pos:      x.Pos,
			Args:     []parse.Node{parse.NewIdentifier(escapeFunc).SetPos(x.Pos)},
		})
	case *parse.IfNode:
		escapeTree(x.List)
		escapeTree(x.ElseList)
	case *parse.RangeNode:
		escapeTree(x.List)
		escapeTree(x.ElseList)
	case *parse.WithNode:
		escapeTree(x.List)
		escapeTree(x.ElseList)
	}
}
