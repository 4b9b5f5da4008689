// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/schema"
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer {
	b := bufPool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func putBuf(b *bytes.Buffer) {
	if b.Cap() < 1<<20 {
		bufPool.Put(b)
	}
}

func writeJSONBytes(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSONBytes(w, status, b)
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle registers h behind the read barrier: the request sees every
// write this server has committed before it arrived.
func (s *Server) handle(pattern string, h handlerFunc) {
	s.handleWith(pattern, true, h)
}

func (s *Server) handleWith(pattern string, barrier bool, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			ctx, err := s.parseFence(r)
			if err != nil {
				writeError(w, err)
				return
			}
			r = r.WithContext(ctx)
		}
		if barrier {
			if err := s.readBarrier(r.Context()); err != nil {
				writeError(w, err)
				return
			}
		}
		if err := h(w, r); err != nil {
			if httpStatus(err) >= 500 {
				s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeError(w, err)
		}
	})
}

func (s *Server) routes() {
	s.handle("GET /{$}", s.homepage)
	s.handle("GET /{collection}", s.getCollection)
	// Creates need no barrier: their lookups refresh the cache on a miss
	// and their transaction guards catch anything stale.
	s.handleWith("POST /{collection}", false, s.postCollection)
	s.handle("GET /{type}/{id}", s.getObject)
	s.handle("PUT /{type}/{id}", s.putObject)
	s.handle("DELETE /{type}/{id}", s.deleteHandler)
	s.registerActions()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, notFound("", "no such resource: %s %s", r.Method, r.URL.Path))
	})
}

func (s *Server) timeout(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.cfg.WriteTimeout)
}

func resourceOf(typ string) (*schema.Resource, error) {
	res := schema.Lookup(typ)
	if res == nil || res.Name == "config-root" {
		return nil, notFound("", "unknown resource type %q", typ)
	}
	return res, nil
}

func collectionOf(plural string) (*schema.Resource, error) {
	res := schema.LookupPlural(plural)
	if res == nil || res.Name == "config-root" {
		return nil, notFound("", "unknown collection %q", plural)
	}
	return res, nil
}

// createdBody is what POST returns, as the original: the identity of the new object.
func (s *Server) writeCreated(w http.ResponseWriter, r *http.Request, o *model.Object) {
	b := getBuf()
	defer putBuf(b)
	v := &view{base: baseURL(r)}
	b.WriteString(`{"`)
	b.WriteString(o.Type)
	b.WriteString(`":{"name":`)
	writeString(b, o.Name())
	b.WriteString(`,"fq_name":`)
	writeStrings(b, o.FQName)
	b.WriteString(`,"uuid":`)
	writeString(b, o.UUID)
	b.WriteString(`,"href":`)
	v.href(b, o.Type, o.UUID)
	if o.ParentType != "" {
		b.WriteString(`,"parent_type":`)
		writeString(b, o.ParentType)
		b.WriteString(`,"parent_uuid":`)
		writeString(b, o.ParentUUID)
		b.WriteString(`,"parent_href":`)
		v.href(b, o.ParentType, o.ParentUUID)
	}
	// The system-set properties a client usually needs at once.
	for _, p := range []string{"virtual_network_network_id", "security_group_id", "instance_ip_address",
		"floating_ip_address", "alias_ip_address", "subnet_uuid", "virtual_machine_interface_mac_addresses", "id_perms"} {
		if raw, ok := o.Props[p]; ok {
			b.WriteString(`,"`)
			b.WriteString(p)
			b.WriteString(`":`)
			b.Write(raw)
		}
	}
	b.WriteString("}}")
	writeJSONBytes(w, http.StatusOK, b.Bytes())
}

func (s *Server) postCollection(w http.ResponseWriter, r *http.Request) error {
	res, err := collectionOf(r.PathValue("collection"))
	if err != nil {
		return err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	fields, err := decodeEnvelope(body, res)
	if err != nil {
		return err
	}
	ctx, cancel := s.timeout(r)
	defer cancel()
	o, err := s.create(ctx, res, fields, fenced(ctx))
	if err != nil {
		return err
	}
	s.writeCreated(w, r, o)
	return nil
}

func (s *Server) lookupNode(typ, id string) (*node, error) {
	u, ok := canonicalUUID(id)
	if !ok {
		return nil, badRequest("uuid", "%q is not a valid UUID", id)
	}
	n := s.cache.Get(u)
	if n == nil || n.Obj.Type != typ {
		return nil, notFound("uuid", "%s %s not found", typ, id)
	}
	return n, nil
}

func parseFields(q string) map[string]bool {
	if q == "" {
		return nil
	}
	m := map[string]bool{}
	for _, f := range strings.Split(q, ",") {
		if f = strings.TrimSpace(f); f != "" {
			m[f] = true
		}
	}
	return m
}

func boolParam(r *http.Request, name string) bool {
	v := strings.ToLower(r.URL.Query().Get(name))
	return v == "true" || v == "1" || v == "yes"
}

func (s *Server) getObject(w http.ResponseWriter, r *http.Request) error {
	res, err := resourceOf(r.PathValue("type"))
	if err != nil {
		return err
	}
	v := &view{
		base:            baseURL(r),
		fields:          parseFields(r.URL.Query().Get("fields")),
		excludeBackRefs: boolParam(r, "exclude_back_refs"),
		excludeChildren: boolParam(r, "exclude_children"),
		excludeHrefs:    boolParam(r, "exclude_hrefs"),
	}
	b := getBuf()
	defer putBuf(b)
	s.cache.RLock()
	n, err := s.lookupNode(res.Name, r.PathValue("id"))
	if err != nil {
		s.cache.RUnlock()
		// A miss may be a write on another server that this cache has not seen yet.
		ctx, cancel := s.timeout(r)
		defer cancel()
		if serr := s.syncCache(ctx); serr != nil {
			return serr
		}
		s.cache.RLock()
		if n, err = s.lookupNode(res.Name, r.PathValue("id")); err != nil {
			s.cache.RUnlock()
			return err
		}
	}
	tag := etag(n)
	if inm := r.Header.Get("If-None-Match"); inm != "" && (inm == tag || inm == "*") {
		s.cache.RUnlock()
		w.Header().Set("ETag", tag)
		return ErrNotModified
	}
	b.WriteString(`{"`)
	b.WriteString(res.Name)
	b.WriteString(`":`)
	s.renderObject(b, n, v)
	b.WriteByte('}')
	s.cache.RUnlock()
	w.Header().Set("ETag", tag)
	writeJSONBytes(w, http.StatusOK, b.Bytes())
	return nil
}

func (s *Server) putObject(w http.ResponseWriter, r *http.Request) error {
	res, err := resourceOf(r.PathValue("type"))
	if err != nil {
		return err
	}
	id, ok := canonicalUUID(r.PathValue("id"))
	if !ok {
		return badRequest("uuid", "%q is not a valid UUID", r.PathValue("id"))
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	fields, err := decodeEnvelope(body, res)
	if err != nil {
		return err
	}
	ctx, cancel := s.timeout(r)
	defer cancel()
	o, err := s.update(ctx, res, id, fields, fenced(ctx))
	if err != nil {
		return err
	}
	b := getBuf()
	defer putBuf(b)
	b.WriteString(`{"`)
	b.WriteString(res.Name)
	b.WriteString(`":{"uuid":`)
	writeString(b, o.UUID)
	b.WriteString(`,"href":`)
	(&view{base: baseURL(r)}).href(b, o.Type, o.UUID)
	b.WriteString("}}")
	writeJSONBytes(w, http.StatusOK, b.Bytes())
	return nil
}

func (s *Server) deleteHandler(w http.ResponseWriter, r *http.Request) error {
	res, err := resourceOf(r.PathValue("type"))
	if err != nil {
		return err
	}
	id, ok := canonicalUUID(r.PathValue("id"))
	if !ok {
		return badRequest("uuid", "%q is not a valid UUID", r.PathValue("id"))
	}
	ctx, cancel := s.timeout(r)
	defer cancel()
	if err := s.deleteObject(ctx, res.Name, id); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) homepage(w http.ResponseWriter, r *http.Request) error {
	base := baseURL(r)
	type link struct {
		Rel    string `json:"rel"`
		Href   string `json:"href"`
		Name   string `json:"name"`
		Method any    `json:"method"`
	}
	type wrapped struct {
		Link link `json:"link"`
	}
	links := []wrapped{{link{Rel: "root", Href: base + "/config-root", Name: "config-root"}}}
	for _, res := range schema.All() {
		if res.Name == "config-root" {
			continue
		}
		links = append(links,
			wrapped{link{Rel: "collection", Href: base + "/" + res.Plural, Name: res.Name}},
			wrapped{link{Rel: "resource-base", Href: base + "/" + res.Name, Name: res.Name}})
	}
	actions := make([]string, 0, len(actionNames))
	for name := range actionNames {
		actions = append(actions, name)
	}
	sort.Strings(actions)
	for _, a := range actions {
		links = append(links, wrapped{link{Rel: "action", Href: base + "/" + a, Name: a, Method: actionNames[a]}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"href": base, "links": links})
	return nil
}
