// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// ListQuery selects the objects of a list. Selectors of different kinds
// (parents, back-refs, uuids or fq-names, filters) must all match; the
// values within one selector are alternatives.
type ListQuery struct {
	ParentIDs    []string   // objects whose parent is one of these uuids
	ParentFQName []string   // objects whose parent has this fq-name
	ParentType   string     // type of ParentFQName, when the type has several parent types
	BackRefIDs   []string   // objects that refer to one of these uuids
	ObjUUIDs     []string   // only these objects
	FQNames      [][]string // only the objects with these fq-names
	// Filters keeps objects whose property (or "name", "uuid",
	// "parent_uuid") equals the value as JSON. Values may not contain a
	// comma once encoded.
	Filters map[string]any
	Detail  bool     // return whole objects, not just href, fq_name and uuid
	Fields  []string // with Detail, only these fields; without, these properties as well
	Shared  bool     // include objects shared with the caller's tenant through perms2
	Count   bool     // return only the number of matching objects, in ListResult.Count
	// ExcludeHrefs leaves out the "href" of each object.
	ExcludeHrefs bool
	// PageLimit is the largest number of objects in one answer; 0 means no
	// limit. With a limit, ListResult.Marker says where the next page
	// starts.
	PageLimit int
	// PageMarker continues a paged list: the Marker of the previous page.
	PageMarker string
}

// ListResult is one answer of List.
type ListResult struct {
	// Objects are the matching objects in uuid order. Without Detail each
	// has "fq_name", "uuid", "href" and the properties named in Fields.
	Objects []Object
	// Count is the number of matching objects for a Count query, else
	// len(Objects).
	Count int
	// Marker is the PageMarker of the next page, "" after the last page or
	// when the query had no PageLimit.
	Marker string
}

// maxQueryLen is the longest query string List sends in a URL; longer
// queries (long uuid lists) go in the body of POST /list-bulk-collection.
const maxQueryLen = 4000

// DefaultPageLimit is the page size of ListAll when the query has none.
const DefaultPageLimit = 500

// List lists objects of type typ (GET /<typ>s).
func (c *Client) List(ctx context.Context, typ string, q ListQuery) (*ListResult, error) {
	if err := checkType(typ); err != nil {
		return nil, err
	}
	filters, err := encodeFilters(q.Filters)
	if err != nil {
		return nil, err
	}
	v := url.Values{}
	setList(v, "parent_id", q.ParentIDs)
	if len(q.ParentFQName) > 0 {
		v.Set("parent_fq_name_str", FQNameString(q.ParentFQName))
	}
	if q.ParentType != "" {
		v.Set("parent_type", q.ParentType)
	}
	setList(v, "back_ref_id", q.BackRefIDs)
	setList(v, "obj_uuids", q.ObjUUIDs)
	if len(q.FQNames) > 0 {
		names := make([]string, len(q.FQNames))
		for i, fq := range q.FQNames {
			names[i] = FQNameString(fq)
		}
		v.Set("fq_names", strings.Join(names, ","))
	}
	setList(v, "fields", q.Fields)
	if filters != "" {
		v.Set("filters", filters)
	}
	setBool(v, "detail", q.Detail)
	setBool(v, "count", q.Count)
	setBool(v, "shared", q.Shared)
	setBool(v, "exclude_hrefs", q.ExcludeHrefs)
	if q.PageLimit > 0 {
		v.Set("page_limit", strconv.Itoa(q.PageLimit))
	}
	if q.PageMarker != "" {
		v.Set("page_marker", q.PageMarker)
	}

	req := request{method: "GET", path: collectionPath(typ), query: v, idempotent: true}
	if len(v.Encode()) > maxQueryLen && len(q.ParentFQName) == 0 && q.ParentType == "" {
		req = request{method: "POST", path: "/list-bulk-collection", idempotent: true, body: bulkQuery{
			Type: typ, ParentID: q.ParentIDs, BackRefID: q.BackRefIDs, ObjUUIDs: q.ObjUUIDs,
			FQNames: q.FQNames, Detail: q.Detail, Count: q.Count, Shared: q.Shared,
			Filters: filters, Fields: q.Fields, ExcludeHrefs: q.ExcludeHrefs,
			PageMarker: q.PageMarker, PageLimit: q.PageLimit,
		}}
	}
	var out map[string]json.RawMessage
	if err := c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	return decodeList(out, typ, req)
}

// bulkQuery is the body of POST /list-bulk-collection.
type bulkQuery struct {
	Type         string     `json:"type"`
	ParentID     []string   `json:"parent_id,omitempty"`
	BackRefID    []string   `json:"back_ref_id,omitempty"`
	ObjUUIDs     []string   `json:"obj_uuids,omitempty"`
	FQNames      [][]string `json:"fq_names,omitempty"`
	Detail       bool       `json:"detail,omitempty"`
	Count        bool       `json:"count,omitempty"`
	Shared       bool       `json:"shared,omitempty"`
	Filters      string     `json:"filters,omitempty"`
	Fields       []string   `json:"fields,omitempty"`
	ExcludeHrefs bool       `json:"exclude_hrefs,omitempty"`
	PageMarker   string     `json:"page_marker,omitempty"`
	PageLimit    int        `json:"page_limit,omitempty"`
}

func decodeList(out map[string]json.RawMessage, typ string, req request) (*ListResult, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("client: %s %s: %s", req.method, req.path, fmt.Sprintf(format, args...))
	}
	raw, ok := out[typ+"s"]
	if !ok {
		return nil, bad("answer has no %q list", typ+"s")
	}
	res := &ListResult{}
	if m := out["marker"]; len(m) > 0 && string(m) != "null" {
		if err := json.Unmarshal(m, &res.Marker); err != nil {
			return nil, bad("marker: %v", err)
		}
	}
	if strings.HasPrefix(strings.TrimSpace(string(raw)), "{") {
		var cnt struct {
			Count *int `json:"count"`
		}
		if err := json.Unmarshal(raw, &cnt); err != nil || cnt.Count == nil {
			return nil, bad("malformed count answer %s", raw)
		}
		res.Count = *cnt.Count
		return res, nil
	}
	var entries []Object
	if err := decodeValue(raw, &entries); err != nil {
		return nil, bad("decode list: %v", err)
	}
	res.Objects = make([]Object, 0, len(entries))
	for _, e := range entries {
		// Detail entries are wrapped as {"<typ>": {...}}.
		if inner, ok := e[typ].(map[string]any); ok && len(e) == 1 {
			e = inner
		}
		res.Objects = append(res.Objects, e)
	}
	res.Count = len(res.Objects)
	return res, nil
}

// ListAll returns every object matching q, following the page markers.
// q.PageLimit sets the page size (DefaultPageLimit if 0); q.Count must be
// false.
func (c *Client) ListAll(ctx context.Context, typ string, q ListQuery) ([]Object, error) {
	if q.Count {
		return nil, fmt.Errorf("client: ListAll of %s: a count query has no pages", typ)
	}
	if q.PageLimit <= 0 {
		q.PageLimit = DefaultPageLimit
	}
	var all []Object
	for {
		res, err := c.List(ctx, typ, q)
		if err != nil {
			return all, err
		}
		all = append(all, res.Objects...)
		if res.Marker == "" || len(res.Objects) == 0 {
			return all, nil
		}
		if res.Marker == q.PageMarker {
			return all, fmt.Errorf("client: ListAll of %s: page marker %s does not advance", typ, res.Marker)
		}
		q.PageMarker = res.Marker
	}
}

// encodeFilters renders filters as the API's "k==v,k2==v2", values as
// JSON, keys sorted.
func encodeFilters(filters map[string]any) (string, error) {
	if len(filters) == 0 {
		return "", nil
	}
	keys := make([]string, 0, len(filters))
	for k := range filters {
		if k == "" || strings.ContainsAny(k, ",=") {
			return "", fmt.Errorf("client: invalid filter key %q", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v, err := json.Marshal(filters[k])
		if err != nil {
			return "", fmt.Errorf("client: filter %s: %w", k, err)
		}
		if strings.Contains(string(v), ",") {
			return "", fmt.Errorf("client: filter %s: value %s contains a comma, which the API cannot express", k, v)
		}
		parts[i] = k + "==" + string(v)
	}
	return strings.Join(parts, ","), nil
}

func setList(v url.Values, key string, list []string) {
	if len(list) > 0 {
		v.Set(key, strings.Join(list, ","))
	}
}

func setBool(v url.Values, key string, b bool) {
	if b {
		v.Set(key, "true")
	}
}
