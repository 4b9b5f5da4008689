// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/contrail-go/contrail/internal/schema"
)

// refInput is one reference as a client sent it: by uuid or by fq-name ("to").
type refInput struct {
	To   []string        `json:"to"`
	UUID string          `json:"uuid"`
	Attr json.RawMessage `json:"attr"`
	Href string          `json:"href"`
}

// draft is a decoded and schema-validated object body, before it is
// resolved against the graph.
type draft struct {
	res        *schema.Resource
	uuid       string
	fqName     []string
	name       string
	parentType string
	parentUUID string
	props      map[string]json.RawMessage // present, non-null properties
	nulls      []string                   // properties explicitly set to null (update: unset)
	refs       map[string][]refInput      // present ref lists, by field name
	fields     map[string]bool            // every top-level field present
}

// readBody reads a request body within the configured limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > s.cfg.MaxRequestBytes {
		return nil, apiErr(ErrTooLarge, "", "request body of %d bytes is over the limit of %d bytes", r.ContentLength, s.cfg.MaxRequestBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apiErr(ErrTooLarge, "", "request body is over the limit of %d bytes", s.cfg.MaxRequestBytes)
		}
		return nil, badRequest("", "reading request body: %v", err)
	}
	return body, nil
}

// decodeJSON decodes one JSON value from body into v, refusing trailing data.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return badRequest("", "malformed JSON: %s", jsonErrText(err))
	}
	if !atEOF(dec) {
		return badRequest("", "malformed JSON: data after the top-level value")
	}
	return nil
}

// atEOF reports whether only white space follows the value dec decoded.
// (dec.More is not enough: it reports false before a stray '}' or ']'.)
func atEOF(dec *json.Decoder) bool {
	_, err := dec.Token()
	return err == io.EOF
}

func jsonErrText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("field %s: expected %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return fmt.Sprintf("expected %s, got JSON %s", te.Type, te.Value)
	}
	if errors.Is(err, io.EOF) {
		return "empty body"
	}
	return err.Error()
}

// decodeEnvelope reads {"<type>": {...}} and returns the inner object fields.
func decodeEnvelope(body []byte, res *schema.Resource) (map[string]json.RawMessage, error) {
	var env map[string]json.RawMessage
	if err := decodeJSON(body, &env); err != nil {
		return nil, err
	}
	raw, ok := env[res.Name]
	if !ok {
		raw, ok = env[res.JSONName]
	}
	if !ok || len(env) != 1 {
		keys := make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, k)
		}
		return nil, badRequest("", "body must be a JSON object with the single key %q, got %v", res.Name, keys)
	}
	var fields map[string]json.RawMessage
	if err := decodeJSON(raw, &fields); err != nil {
		return nil, err
	}
	if fields == nil {
		return nil, badRequest(res.Name, "must be a JSON object")
	}
	return fields, nil
}

// decodeValue decodes a raw JSON value with numbers kept exact.
func decodeValue(raw json.RawMessage) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// parseDraft validates the fields of an object body against the schema.
func parseDraft(res *schema.Resource, fields map[string]json.RawMessage) (*draft, error) {
	d := &draft{
		res:    res,
		props:  map[string]json.RawMessage{},
		refs:   map[string][]refInput{},
		fields: make(map[string]bool, len(fields)),
	}
	for name, raw := range fields {
		d.fields[name] = true
		switch name {
		case "uuid":
			if isNull(raw) {
				continue
			}
			if err := json.Unmarshal(raw, &d.uuid); err != nil {
				return nil, badRequest("uuid", "must be a string")
			}
			u, ok := canonicalUUID(d.uuid)
			if !ok {
				return nil, badRequest("uuid", "%q is not a valid UUID", d.uuid)
			}
			d.uuid = u
		case "fq_name":
			if isNull(raw) {
				continue
			}
			if err := json.Unmarshal(raw, &d.fqName); err != nil {
				return nil, badRequest("fq_name", "must be a list of strings")
			}
			for i, c := range d.fqName {
				if c == "" {
					return nil, badRequest(fmt.Sprintf("fq_name[%d]", i), "must not be empty")
				}
			}
		case "name":
			if !isNull(raw) {
				if err := json.Unmarshal(raw, &d.name); err != nil {
					return nil, badRequest("name", "must be a string")
				}
			}
		case "parent_type":
			if !isNull(raw) {
				if err := json.Unmarshal(raw, &d.parentType); err != nil {
					return nil, badRequest("parent_type", "must be a string")
				}
			}
		case "parent_uuid":
			if !isNull(raw) {
				if err := json.Unmarshal(raw, &d.parentUUID); err != nil {
					return nil, badRequest("parent_uuid", "must be a string")
				}
			}
		case "href", "parent_href", "id_perms_uuid":
			// Server-generated; clients echo them back, they are ignored.
		default:
			if err := d.field(name, raw); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

func (d *draft) field(name string, raw json.RawMessage) error {
	res := d.res
	if p := res.Prop(name); p != nil {
		if isNull(raw) {
			d.nulls = append(d.nulls, name)
			return nil
		}
		v, err := decodeValue(raw)
		if err != nil {
			return badRequest(name, "malformed JSON: %s", jsonErrText(err))
		}
		if err := p.Validate(v); err != nil {
			return schemaErr(err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return badRequest(name, "malformed JSON: %v", err)
		}
		d.props[name] = buf.Bytes()
		return nil
	}
	if l := res.RefField(name); l != nil {
		var refs []refInput
		if !isNull(raw) {
			if err := json.Unmarshal(raw, &refs); err != nil {
				return badRequest(name, "must be a list of {to|uuid, attr}: %s", jsonErrText(err))
			}
		}
		for i := range refs {
			path := fmt.Sprintf("%s[%d]", name, i)
			if refs[i].UUID == "" && len(refs[i].To) == 0 {
				return badRequest(path, "needs uuid or to")
			}
			if refs[i].UUID != "" {
				u, ok := canonicalUUID(refs[i].UUID)
				if !ok {
					return badRequest(path+".uuid", "%q is not a valid UUID", refs[i].UUID)
				}
				refs[i].UUID = u
			}
			if isNull(refs[i].Attr) {
				refs[i].Attr = nil
				continue
			}
			if l.Attr == nil {
				// The original ignores attrs on links that have none; keep it that way.
				refs[i].Attr = nil
				continue
			}
			v, err := decodeValue(refs[i].Attr)
			if err != nil {
				return badRequest(path+".attr", "malformed JSON: %s", jsonErrText(err))
			}
			if err := l.ValidateAttr(path+".attr", v); err != nil {
				return schemaErr(err)
			}
			var buf bytes.Buffer
			json.Compact(&buf, refs[i].Attr)
			refs[i].Attr = buf.Bytes()
		}
		d.refs[name] = refs
		return nil
	}
	if isDerivedField(res, name) {
		return nil // back-refs and children lists are echoed by clients and ignored
	}
	return badRequest(name, "unknown field %q for %s", name, res.Name)
}

// isDerivedField reports whether name is a back-ref or children list of res.
func isDerivedField(res *schema.Resource, name string) bool {
	if strings.HasSuffix(name, "_back_refs") {
		for _, l := range res.BackRefs {
			if schema.BackRefsField(l.From) == name {
				return true
			}
		}
	}
	for _, l := range res.Children {
		if schema.ChildrenField(l.To) == name {
			return true
		}
	}
	return false
}

func schemaErr(err error) error {
	var fe *schema.FieldError
	if errors.As(err, &fe) {
		return &Error{Kind: ErrBadRequest, Field: fe.Field, Msg: fe.Msg}
	}
	return badRequest("", "%v", err)
}

// canonicalUUID returns the lower-case 8-4-4-4-12 form of s.
func canonicalUUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return "", false
			}
		}
	}
	return string(b), true
}
