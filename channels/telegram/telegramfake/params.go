package telegramfake

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// The parameter table of the Bot API (methods.json) and the encodings a
// request may carry its parameters in.

//go:embed methods.json
var methodsJSON []byte

type field struct {
	Types    []string `json:"types"`
	Required bool     `json:"required"`
}

var methods = func() map[string]map[string]field {
	var spec struct {
		Methods map[string]map[string]field `json:"methods"`
	}
	if err := json.Unmarshal(methodsJSON, &spec); err != nil {
		panic("telegramfake: methods.json: " + err.Error())
	}
	out := map[string]map[string]field{}
	for name, f := range spec.Methods {
		out[strings.ToLower(name)] = f
	}
	return out
}()

// readParams reads parameters from the query and from a JSON, urlencoded or
// multipart body. JSON strings are unquoted; other JSON values keep their JSON
// text, which is how form encodings carry objects too.
func readParams(r *http.Request) (map[string]string, string, error) {
	p := map[string]string{}
	for k, v := range r.URL.Query() {
		p[k] = v[0]
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		if err != nil {
			return nil, "", err
		}
		var m map[string]json.RawMessage
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, &m); err != nil {
				return nil, "", fmt.Errorf("can't parse JSON object")
			}
		}
		for k, v := range m {
			var s string
			if json.Unmarshal(v, &s) == nil {
				p[k] = s
			} else if string(v) != "null" {
				p[k] = string(v)
			}
		}
		return p, "json", nil
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return nil, "", err
		}
		for k, v := range r.PostForm {
			p[k] = v[0]
		}
		return p, "form", nil
	case "multipart/form-data":
		if err := r.ParseMultipartForm(20 << 20); err != nil {
			return nil, "", err
		}
		for k, v := range r.MultipartForm.Value {
			p[k] = v[0]
		}
		for k, fh := range r.MultipartForm.File {
			if fh[0].Size > 10<<20 {
				return nil, "", fmt.Errorf("file is too big")
			}
			p[k] = "upload:" + fh[0].Filename
		}
		return p, "multipart", nil
	case "":
		return p, "query", nil
	}
	return nil, "", fmt.Errorf("unsupported Content-Type %q", ct)
}

// checkParams applies the spec table: required fields present, integers and
// booleans well-formed.
func checkParams(spec map[string]field, p map[string]string) string {
	names := make([]string, 0, len(spec))
	for n := range spec {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := spec[n]
		v, has := p[n]
		if !has || v == "" {
			if f.Required {
				if n == "text" {
					return "message text is empty"
				}
				return n + " is empty"
			}
			continue
		}
		if len(f.Types) == 1 {
			switch f.Types[0] {
			case "Integer":
				if _, err := strconv.ParseInt(v, 10, 64); err != nil {
					return "invalid " + n + " specified"
				}
			case "Boolean":
				if _, err := strconv.ParseBool(v); err != nil {
					return "invalid " + n + " specified"
				}
			}
		}
		if n == "chat_id" && !strings.HasPrefix(v, "@") {
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return "chat not found"
			}
		}
	}
	return ""
}
