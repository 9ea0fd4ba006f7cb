package campaigns

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// EdgeKind says how a run leaves a step along an edge.
type EdgeKind int

const (
	EdgeNext    EdgeKind = iota // the step finished (explicit next or the following step)
	EdgeReply                   // a reply matched a wait_reply branch (or on_other)
	EdgeTimeout                 // wait_reply timed out
	EdgeBranch                  // a branch case (or else)
)

// Edge is one way out of a step.
type Edge struct {
	To   string
	Kind EdgeKind
	Path string // where the target is written ("steps[2].next"); "" when implicit
}

// StepIndex returns the index of the step with id, or -1.
func (d *Definition) StepIndex(id string) int {
	for i := range d.Steps {
		if d.Steps[i].ID == id {
			return i
		}
	}
	return -1
}

// NextOf returns where step i goes when it simply finishes: its next, or
// the following step; "" ends the run (end steps and the last step).
func (d *Definition) NextOf(i int) string {
	if i < 0 || i >= len(d.Steps) || d.Steps[i].End != nil {
		return ""
	}
	if d.Steps[i].Next != "" {
		return d.Steps[i].Next
	}
	if i+1 < len(d.Steps) {
		return d.Steps[i+1].ID
	}
	return ""
}

// Edges lists the ways out of step i.
func (d *Definition) Edges(i int) []Edge {
	s := d.Steps[i]
	p := fmt.Sprintf("steps[%d]", i)
	next := func() Edge {
		if s.Next != "" {
			return Edge{To: s.Next, Kind: EdgeNext, Path: p + ".next"}
		}
		return Edge{To: d.NextOf(i), Kind: EdgeNext}
	}
	var out []Edge
	add := func(e Edge) {
		if e.To != "" {
			out = append(out, e)
		}
	}
	switch {
	case s.End != nil:
	case s.WaitReply != nil:
		w := s.WaitReply
		for j, b := range w.Branches {
			add(Edge{To: b.Goto, Kind: EdgeReply, Path: fmt.Sprintf("%s.wait_reply.branches[%d].goto", p, j)})
		}
		if w.OnOther != "" {
			add(Edge{To: w.OnOther, Kind: EdgeReply, Path: p + ".wait_reply.on_other"})
		}
		if w.OnUnsure != "" && w.OnUnsure != OnUnsureHandoff {
			add(Edge{To: w.OnUnsure, Kind: EdgeReply, Path: p + ".wait_reply.on_unsure"})
		}
		if w.OnTimeout != "" {
			add(Edge{To: w.OnTimeout, Kind: EdgeTimeout, Path: p + ".wait_reply.on_timeout"})
		} else {
			e := next()
			e.Kind = EdgeTimeout
			add(e)
		}
	case s.Branch != nil:
		for j, c := range s.Branch.Cases {
			add(Edge{To: c.Goto, Kind: EdgeBranch, Path: fmt.Sprintf("%s.branch.cases[%d].goto", p, j)})
		}
		if s.Branch.Else != "" {
			add(Edge{To: s.Branch.Else, Kind: EdgeBranch, Path: p + ".branch.else"})
		} else {
			add(next())
		}
	case s.Split != nil:
		for j, v := range s.Split.Variants {
			add(Edge{To: v.Goto, Kind: EdgeBranch, Path: fmt.Sprintf("%s.split.variants[%d].goto", p, j)})
		}
	default:
		add(next())
	}
	return out
}

// pauses reports whether a run stops at step s for outside time to pass.
func (s *Step) pauses() bool {
	return s.Wait != nil || s.WaitReply != nil || s.Goal != nil || s.Handoff != nil
}

func (s *Step) actions() []string {
	var out []string
	for _, a := range []struct {
		name string
		set  bool
	}{
		{"send", s.Send != nil}, {"wait", s.Wait != nil}, {"wait_reply", s.WaitReply != nil},
		{"branch", s.Branch != nil}, {"split", s.Split != nil}, {"handoff", s.Handoff != nil}, {"set", s.Set != nil},
		{"goal", s.Goal != nil}, {"end", s.End != nil},
	} {
		if a.set {
			out = append(out, a.name)
		}
	}
	return out
}

var sentiments = []string{"positive", "negative", "neutral"}

func (l *linter) stepsGraph() {
	d := l.def
	l.steps = map[string]int{}
	for i, s := range d.Steps {
		p := fmt.Sprintf("steps[%d]", i)
		if l.f.Has(p + ".id") {
			if s.ID == "" {
				l.add(p+".id", "invalid-value", "", "step id is empty")
			} else if first, dup := l.steps[s.ID]; dup {
				l.add(p+".id", "duplicate-id", fmt.Sprintf("the first %q is steps[%d] at line %d", s.ID, first, l.f.At(fmt.Sprintf("steps[%d].id", first)).Line),
					"step id %q is used twice", s.ID)
			} else {
				l.steps[s.ID] = i
			}
		}
		acts := s.actions()
		if len(acts) != 1 {
			msg := "step has no action"
			if len(acts) > 1 {
				msg = "step has more than one action: " + strings.Join(acts, ", ")
			}
			l.add(p, "step-one-action", "split it into one step per action, e.g. a send followed by a wait_reply", "%s %q: %s", p, s.ID, msg)
		}
		if w := s.Wait; w != nil {
			hasFor, hasUntil := l.f.Has(p+".wait.for"), l.f.Has(p+".wait.until")
			switch {
			case hasFor == hasUntil:
				l.addKey(p+".wait", "invalid-value", "e.g. wait: {for: 2d} or wait: {until: \"fri 18:00\"}", "wait needs exactly one of for, until")
			case hasFor && w.For <= 0:
				l.add(p+".wait.for", "invalid-duration", "", "wait.for must be longer than zero")
			case hasUntil:
				if _, _, _, err := ParseUntil(w.Until); err != nil {
					l.add(p+".wait.until", "invalid-time", "e.g. \"18:00\" or \"fri 18:00\" in the subscriber's local time", "wait.until: %v", err)
				}
			}
		}
		if w := s.WaitReply; w != nil {
			if l.f.Has(p+".wait_reply.timeout") && w.Timeout <= 0 {
				l.add(p+".wait_reply.timeout", "invalid-duration", "", "wait_reply.timeout must be longer than zero")
			}
			for j, b := range w.Branches {
				bp := fmt.Sprintf("%s.wait_reply.branches[%d]", p, j)
				n := 0
				if b.Button != "" {
					n++
				}
				if len(b.Keywords) > 0 {
					n++
				}
				if b.Sentiment != "" {
					n++
					if !slices.Contains(sentiments, b.Sentiment) {
						l.add(bp+".sentiment", "invalid-value", suggestHint(b.Sentiment, sentiments), "sentiment must be positive, negative or neutral, got %q", b.Sentiment)
					}
				}
				if n != 1 {
					l.add(bp, "invalid-value", "write one branch per match: button, keywords or sentiment", "a reply branch needs exactly one of button, keywords, sentiment (has %d)", n)
				}
			}
			if l.replies != nil {
				for _, pr := range l.replies(w) {
					l.warn(p+".wait_reply."+pr.Path, "keyword-overlap", pr.Hint, pr.Msg)
				}
			}
		}
		if g := s.Goal; g != nil && l.f.Has(p+".goal.within") && g.Within <= 0 {
			l.add(p+".goal.within", "invalid-duration", "", "goal.within must be longer than zero")
		}
		if b := s.Branch; b != nil {
			for j, c := range b.Cases {
				cp := fmt.Sprintf("%s.branch.cases[%d]", p, j)
				l.conditions(cp+".where", c.Where)
				l.eventFilters(cp+".has_event", c.HasEvent)
				for k, e := range c.HasEvent {
					if e.MinCount > 0 || len(e.Last) > 0 {
						l.add(fmt.Sprintf("%s.has_event[%d]", cp, k), "invalid-value", "count and last value are for audiences and segments", "a branch case's has_event takes no min_count or last")
					}
				}
				if len(c.Where) == 0 && len(c.HasEvent) == 0 {
					l.add(cp, "invalid-value", "a case without conditions always matches: use else", "branch case has no conditions")
				}
			}
		}
		if sp := s.Split; sp != nil {
			l.split(p, s)
		}
		if s.End != nil && s.Next != "" {
			l.add(p+".next", "invalid-value", "", "an end step has no next")
		}
		if sd := s.Set; sd != nil && l.f.Has(p+".set.attributes") && len(sd.Attributes) == 0 {
			l.add(p+".set.attributes", "invalid-value", "", "set.attributes is empty")
		}
	}
	if l.f.Has("steps") && len(d.Steps) == 0 {
		l.add("steps", "invalid-value", "", "a campaign needs at least one step")
		return
	}
	l.edges = make([][]Edge, len(d.Steps))
	for i := range d.Steps {
		l.edges[i] = d.Edges(i)
	}
	// References.
	for i := range d.Steps {
		for _, e := range l.edges[i] {
			if _, ok := l.steps[e.To]; !ok && e.Path != "" {
				ids := make([]string, 0, len(l.steps))
				for id := range l.steps {
					ids = append(ids, id)
				}
				sort.Strings(ids)
				l.add(e.Path, "unknown-step", suggestHint(e.To, ids), "no step with id %q", e.To)
			}
		}
	}
	if len(d.Steps) == 0 {
		return
	}
	l.reachability()
	if !hasRule(l.errs, "duplicate-id") {
		// With two steps of one id the graph is ambiguous; fix that first.
		l.cycles()
		l.window()
	}
}

func (l *linter) reachability() {
	d := l.def
	seen := make([]bool, len(d.Steps))
	stack := []int{0}
	seen[0] = true
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, e := range l.edges[i] {
			j, ok := l.steps[e.To]
			if ok && !seen[j] {
				seen[j] = true
				stack = append(stack, j)
			}
		}
	}
	for i, ok := range seen {
		if !ok && d.Steps[i].ID != "" && l.steps[d.Steps[i].ID] == i {
			l.add(fmt.Sprintf("steps[%d].id", i), "unreachable-step", "a run starts at the first step and follows next/goto; the step before an end or goto does not flow into the next one",
				"step %q is never reached", d.Steps[i].ID)
		}
	}
}

// cycles finds strongly connected components (Tarjan) without a pausing step.
func (l *linter) cycles() {
	d := l.def
	n := len(d.Steps)
	index := make([]int, n)
	low := make([]int, n)
	on := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	counter := 0
	adj := func(i int) []int {
		var out []int
		for _, e := range l.edges[i] {
			if j, ok := l.steps[e.To]; ok {
				out = append(out, j)
			}
		}
		return out
	}
	var strong func(v int)
	strong = func(v int) {
		index[v], low[v] = counter, counter
		counter++
		stack = append(stack, v)
		on[v] = true
		for _, w := range adj(v) {
			if index[w] < 0 {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if on[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var comp []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				on[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			l.checkCycle(comp, adj)
		}
	}
	for i := 0; i < n; i++ {
		if index[i] < 0 {
			strong(i)
		}
	}
}

func (l *linter) checkCycle(comp []int, adj func(int) []int) {
	d := l.def
	if len(comp) == 1 {
		self := false
		for _, w := range adj(comp[0]) {
			if w == comp[0] {
				self = true
			}
		}
		if !self {
			return
		}
	}
	sort.Ints(comp)
	var ids []string
	for _, i := range comp {
		if d.Steps[i].pauses() {
			return
		}
		ids = append(ids, d.Steps[i].ID)
	}
	// Point at the edge that closes the loop: the last step's jump back.
	last := comp[len(comp)-1]
	path := fmt.Sprintf("steps[%d].id", comp[0])
	for _, e := range l.edges[last] {
		if j, ok := l.steps[e.To]; ok && containsInt(comp, j) && e.Path != "" {
			path = e.Path
		}
	}
	l.add(path, "cycle-without-wait", "put a wait, wait_reply, goal or handoff inside the loop", "steps %s form a loop with no wait: a run would spin forever", strings.Join(ids, " → "))
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// window computes, for each step, whether the subscriber has certainly
// written to us within the last 24 hours when the run gets there (a send
// right after a matched reply); every other send may reach WhatsApp and
// Messenger outside their window and needs a template / tag there.
func (l *linter) window() {
	d := l.def
	n := len(d.Steps)
	open := make([]bool, n)
	for i := range open {
		open[i] = true
	}
	// Worklist: a step becomes closed when any way into it is closed; each
	// step closes at most once, so this is linear in the edges.
	open[0] = false // no trigger is a reply: the first message opens the dialogue
	// Every step is looked at once (a pausing step closes what follows it
	// even when it is open itself), then again whenever it closes.
	work := make([]int, 0, n)
	for i := n - 1; i >= 0; i-- {
		work = append(work, i)
	}
	for len(work) > 0 {
		i := work[len(work)-1]
		work = work[:len(work)-1]
		s := d.Steps[i]
		for _, e := range l.edges[i] {
			j, ok := l.steps[e.To]
			if !ok || !open[j] {
				continue
			}
			closed := !open[i]
			switch {
			case e.Kind == EdgeReply:
				closed = false
			case e.Kind == EdgeTimeout:
				closed = true
			case s.Wait != nil && (s.Wait.Until != "" || s.Wait.For.D() >= 23*time.Hour):
				closed = true
			case s.Goal != nil || s.Handoff != nil:
				closed = true
			}
			if closed {
				open[j] = false
				work = append(work, j)
			}
		}
	}
	l.windowOpen = open
}
