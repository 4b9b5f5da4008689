// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/schema"
)

// listQuery holds the parameters of a collection list, from the query
// string of GET /<type>s or the body of /list-bulk-collection.
type listQuery struct {
	parentIDs    []string
	parentFQ     []string
	parentType   string
	backRefIDs   []string
	objUUIDs     []string
	fqNames      [][]string
	detail       bool
	count        bool
	fields       map[string]bool
	filters      map[string][]any
	excludeHrefs bool
	pageMarker   string
	pageLimit    int
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseFilters reads "key==value,key2==value2"; values are JSON when they
// parse as JSON, strings otherwise (the original's get_filters).
func parseFilters(s string) (map[string][]any, error) {
	if s == "" {
		return nil, nil
	}
	out := map[string][]any{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "==")
		if !ok || k == "" {
			return nil, badRequest("filters", "filter %q is not key==value", part)
		}
		var val any
		if err := json.Unmarshal([]byte(v), &val); err != nil {
			val = v
		}
		out[k] = append(out[k], val)
	}
	return out, nil
}

func (s *Server) listQueryFromURL(r *http.Request) (*listQuery, error) {
	q := r.URL.Query()
	lq := &listQuery{
		parentIDs:    splitList(q.Get("parent_id")),
		parentType:   q.Get("parent_type"),
		backRefIDs:   splitList(q.Get("back_ref_id")),
		objUUIDs:     splitList(q.Get("obj_uuids")),
		detail:       boolParam(r, "detail"),
		count:        boolParam(r, "count"),
		fields:       parseFields(q.Get("fields")),
		excludeHrefs: boolParam(r, "exclude_hrefs"),
		pageMarker:   q.Get("page_marker"),
	}
	if v := q.Get("parent_fq_name_str"); v != "" {
		lq.parentFQ = model.ParseFQNameString(v)
	}
	for _, f := range splitList(q.Get("fq_names")) {
		lq.fqNames = append(lq.fqNames, model.ParseFQNameString(f))
	}
	var err error
	if lq.filters, err = parseFilters(q.Get("filters")); err != nil {
		return nil, err
	}
	if v := q.Get("page_limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, badRequest("page_limit", "%q is not a non-negative integer", v)
		}
		lq.pageLimit = n
	}
	if lq.pageMarker == "None" {
		lq.pageMarker = ""
	}
	return lq, nil
}

func (s *Server) getCollection(w http.ResponseWriter, r *http.Request) error {
	res, err := collectionOf(r.PathValue("collection"))
	if err != nil {
		return err
	}
	lq, err := s.listQueryFromURL(r)
	if err != nil {
		return err
	}
	return s.writeList(w, r, res, lq)
}

// matches reports whether n passes the filters of lq; callers hold the cache lock.
func (s *Server) matches(n *node, lq *listQuery, parents, backRefs map[string]bool) bool {
	o := n.Obj
	if parents != nil && !parents[o.ParentUUID] {
		return false
	}
	if backRefs != nil {
		ok := false
		for _, list := range o.Refs {
			for _, r := range list {
				if backRefs[r.UUID] {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	for k, vals := range lq.filters {
		var have any
		switch k {
		case "name":
			have = o.Name()
		case "uuid":
			have = o.UUID
		case "parent_uuid":
			have = o.ParentUUID
		default:
			raw, ok := o.Props[k]
			if !ok {
				return false
			}
			json.Unmarshal(raw, &have)
		}
		hj, _ := json.Marshal(have)
		found := false
		for _, v := range vals {
			vj, _ := json.Marshal(v)
			if bytes.Equal(hj, vj) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (s *Server) writeList(w http.ResponseWriter, r *http.Request, res *schema.Resource, lq *listQuery) error {
	b := getBuf()
	defer putBuf(b)
	v := &view{base: baseURL(r), excludeHrefs: lq.excludeHrefs}
	// The plain form shows the asked-for properties, refs, back-refs and
	// children besides the identity.
	var fv *view
	if lq.fields != nil && !lq.detail {
		fv = &view{base: v.base, fields: lq.fields, excludeHrefs: lq.excludeHrefs}
	}
	if lq.detail {
		v.fields = nil
		if lq.fields != nil {
			v.fields = lq.fields
		}
	}
	s.cache.RLock()
	defer s.cache.RUnlock()

	var parents, backRefs map[string]bool
	if len(lq.parentIDs) > 0 {
		parents = map[string]bool{}
		for _, p := range lq.parentIDs {
			parents[p] = true
		}
	}
	if len(lq.parentFQ) > 0 {
		var types []string
		if lq.parentType != "" {
			types = []string{lq.parentType}
		} else {
			for _, l := range res.Parents {
				types = append(types, l.From)
			}
		}
		if parents == nil {
			parents = map[string]bool{}
		}
		for _, t := range types {
			if u, ok := s.cache.LookupFQ(t, lq.parentFQ); ok {
				parents[u] = true
			}
		}
	}
	if len(lq.backRefIDs) > 0 {
		backRefs = map[string]bool{}
		for _, u := range lq.backRefIDs {
			backRefs[u] = true
		}
	}
	// Candidates: explicit uuids or fq-names, else the whole type, in uuid order.
	var cands []string
	explicit := len(lq.objUUIDs) > 0 || len(lq.fqNames) > 0
	if explicit {
		seen := map[string]bool{}
		for _, u := range lq.objUUIDs {
			if n := s.cache.Get(u); n != nil && n.Obj.Type == res.Name && !seen[u] {
				cands = append(cands, u)
				seen[u] = true
			}
		}
		for _, fq := range lq.fqNames {
			if u, ok := s.cache.LookupFQ(res.Name, fq); ok && !seen[u] {
				cands = append(cands, u)
				seen[u] = true
			}
		}
		sort.Strings(cands)
	} else {
		cands = s.cache.UUIDs(res.Name)
	}
	if lq.pageMarker != "" {
		i := sort.SearchStrings(cands, lq.pageMarker)
		if i < len(cands) && cands[i] == lq.pageMarker {
			i++
		}
		cands = cands[i:]
	}
	plural := res.Plural
	if lq.count {
		n := 0
		for _, u := range cands {
			if s.matches(s.cache.Get(u), lq, parents, backRefs) {
				n++
			}
		}
		b.WriteString(`{"`)
		b.WriteString(plural)
		b.WriteString(`":{"count":`)
		b.WriteString(strconv.Itoa(n))
		b.WriteString("}}")
		writeJSONBytes(w, http.StatusOK, b.Bytes())
		return nil
	}
	b.WriteString(`{"`)
	b.WriteString(plural)
	b.WriteString(`":[`)
	written := 0
	last := ""
	more := false
	for _, u := range cands {
		n := s.cache.Get(u)
		if !s.matches(n, lq, parents, backRefs) {
			continue
		}
		if lq.pageLimit > 0 && written == lq.pageLimit {
			more = true
			break
		}
		if written > 0 {
			b.WriteByte(',')
		}
		written++
		last = u
		if lq.detail {
			b.WriteString(`{"`)
			b.WriteString(res.Name)
			b.WriteString(`":`)
			s.renderObject(b, n, v)
			b.WriteByte('}')
			continue
		}
		b.WriteString(`{`)
		if !lq.excludeHrefs {
			b.WriteString(`"href":`)
			v.href(b, res.Name, u)
			b.WriteByte(',')
		}
		b.WriteString(`"fq_name":`)
		writeStrings(b, n.Obj.FQName)
		b.WriteString(`,"uuid":`)
		writeString(b, u)
		if fv != nil {
			s.renderFields(b, n, fv)
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	if lq.pageLimit > 0 {
		b.WriteString(`,"marker":`)
		if more {
			writeString(b, last)
		} else {
			b.WriteString("null")
		}
	}
	b.WriteByte('}')
	writeJSONBytes(w, http.StatusOK, b.Bytes())
	return nil
}
