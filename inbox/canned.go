package inbox

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// CannedReply is a ready answer a manager picks in the reply box.
type CannedReply struct {
	Title string
	Text  string
}

// Canned holds the canned replies of each queue (NUDGE_INBOX_CANNED). The
// queue "default" serves queues without a list of their own.
type Canned struct {
	byQueue map[string][]CannedReply
}

// DefaultQueue names the list for queues without their own.
const DefaultQueue = "default"

// For returns the replies offered in queue.
func (c *Canned) For(queue string) []CannedReply {
	if c == nil {
		return nil
	}
	if r, ok := c.byQueue[queue]; ok {
		return r
	}
	return c.byQueue[DefaultQueue]
}

// Queues lists the queues with replies of their own, sorted.
func (c *Canned) Queues() []string {
	if c == nil {
		return nil
	}
	out := make([]string, 0, len(c.byQueue))
	for q := range c.byQueue {
		out = append(out, q)
	}
	sort.Strings(out)
	return out
}

// LoadCanned reads canned replies from path: a YAML file mapping each queue
// to its replies, or a directory of <queue>.yaml files each holding a list.
// A reply is a string or {title, text}. "" loads none. Errors name file:line.
//
//	general:
//	  - "Thank you for writing! We are looking into it."
//	  - title: Refund
//	    text: "We are sorry. We will refund the dish shortly."
func LoadCanned(path string) (*Canned, error) {
	c := &Canned{byQueue: map[string][]CannedReply{}}
	if path == "" {
		return c, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("canned replies: %w", err)
	}
	if !st.IsDir() {
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("canned replies: %w", err)
		}
		return c, c.parseFile(path, src)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("canned replies: %w", err)
	}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		file := filepath.Join(path, e.Name())
		src, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("canned replies: %w", err)
		}
		queue := strings.TrimSuffix(e.Name(), ext)
		if err := c.parseList(file, queue, src); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// CannedError is a problem in a canned replies file.
type CannedError struct {
	File string
	Line int
	Msg  string
}

func (e *CannedError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

func errAt(file string, n ast.Node, format string, args ...any) error {
	line := 1
	if n != nil && n.GetToken() != nil {
		line = n.GetToken().Position.Line
	}
	return &CannedError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func parseBody(file string, src []byte) (ast.Node, error) {
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		var line int
		if _, e := fmt.Sscanf(err.Error(), "[%d:", &line); e != nil || line == 0 {
			line = 1
		}
		first, _, _ := strings.Cut(err.Error(), "\n")
		return nil, &CannedError{File: file, Line: line, Msg: "not valid YAML: " + first}
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return nil, &CannedError{File: file, Line: 1, Msg: "empty file"}
	}
	return f.Docs[0].Body, nil
}

// parseFile reads the queue → replies form.
func (c *Canned) parseFile(file string, src []byte) error {
	body, err := parseBody(file, src)
	if err != nil {
		return err
	}
	m, ok := body.(*ast.MappingNode)
	if !ok {
		return errAt(file, body, "want a mapping of queue names to lists of replies, got %s", body.Type())
	}
	for _, kv := range m.Values {
		queue := strings.TrimSpace(kv.Key.String())
		if queue == "" {
			return errAt(file, kv.Key, "empty queue name")
		}
		if _, dup := c.byQueue[queue]; dup {
			return errAt(file, kv.Key, "queue %q is listed twice", queue)
		}
		if err := c.addList(file, queue, kv.Value); err != nil {
			return err
		}
	}
	return nil
}

// parseList reads one queue's file (a list of replies).
func (c *Canned) parseList(file, queue string, src []byte) error {
	body, err := parseBody(file, src)
	if err != nil {
		return err
	}
	return c.addList(file, queue, body)
}

func (c *Canned) addList(file, queue string, n ast.Node) error {
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		return errAt(file, n, "queue %q: want a list of replies, got %s", queue, n.Type())
	}
	list := []CannedReply{}
	for _, item := range seq.Values {
		r, err := cannedReply(file, queue, item)
		if err != nil {
			return err
		}
		list = append(list, r)
	}
	c.byQueue[queue] = list
	return nil
}

// yamlText is the value of a string or literal block node.
func yamlText(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return strings.TrimRight(v.Value.Value, "\n"), true
	}
	return "", false
}

func cannedReply(file, queue string, n ast.Node) (CannedReply, error) {
	if s, ok := yamlText(n); ok {
		if strings.TrimSpace(s) == "" {
			return CannedReply{}, errAt(file, n, "queue %q: empty reply", queue)
		}
		return CannedReply{Text: s}, nil
	}
	switch v := n.(type) {
	case *ast.MappingNode:
		var r CannedReply
		for _, kv := range v.Values {
			s, ok := yamlText(kv.Value)
			if !ok {
				return r, errAt(file, kv.Value, "queue %q: %s must be text", queue, kv.Key.String())
			}
			switch kv.Key.String() {
			case "title":
				r.Title = s
			case "text":
				r.Text = s
			default:
				return r, errAt(file, kv.Key, "queue %q: unknown key %q (want title and text)", queue, kv.Key.String())
			}
		}
		if strings.TrimSpace(r.Text) == "" {
			return r, errAt(file, n, "queue %q: a reply needs text", queue)
		}
		return r, nil
	}
	return CannedReply{}, errAt(file, n, "queue %q: a reply is text or {title, text}, got %s", queue, n.Type())
}
