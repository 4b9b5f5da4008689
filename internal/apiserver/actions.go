// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/schema"
)

// actionNames are the action endpoints and their methods, listed on GET /.
var actionNames = map[string]string{
	"fqname-to-id":           "POST",
	"id-to-fqname":           "POST",
	"ref-update":             "POST",
	"ref-relax-for-delete":   "POST",
	"prop-collection-get":    "GET",
	"prop-collection-update": "POST",
	"list-bulk-collection":   "POST",
	"useragent-kv":           "POST",
	"obj-perms":              "GET",
	"chown":                  "POST",
	"chmod":                  "POST",
	"set-tag":                "POST",
	"aaa-mode":               "GET",
	"db-check":               "GET",
}

func (s *Server) registerActions() {
	s.handle("POST /fqname-to-id", s.fqnameToID)
	s.handle("POST /id-to-fqname", s.idToFQName)
	s.handle("POST /ref-update", s.refUpdate)
	s.handle("POST /ref-relax-for-delete", s.refRelax)
	s.handle("GET /prop-collection-get", s.propCollectionGet)
	s.handle("POST /prop-collection-update", s.propCollectionUpdate)
	s.handle("POST /list-bulk-collection", s.listBulk)
	s.handle("POST /useragent-kv", s.useragentKV)
	s.handle("GET /obj-perms", s.objPerms)
	s.handle("POST /chown", s.chown)
	s.handle("POST /chmod", s.chmod)
	s.handle("POST /set-tag", s.setTag)
	s.handle("GET /aaa-mode", func(w http.ResponseWriter, r *http.Request) error {
		writeJSON(w, http.StatusOK, map[string]string{"aaa-mode": "no-auth"})
		return nil
	})
	s.handle("GET /db-check", func(w http.ResponseWriter, r *http.Request) error {
		ctx, cancel := s.timeout(r)
		defer cancel()
		problems, err := s.st.Check(ctx)
		if err != nil {
			return apiErr(ErrUnavailable, "", "%v", err)
		}
		if problems == nil {
			problems = []string{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"problems": problems})
		return nil
	})
	s.handle("POST /virtual-network/{id}/ip-alloc", s.ipAlloc)
	s.handle("POST /virtual-network/{id}/ip-free", s.ipFree)
	s.handle("POST /virtual-network/{id}/subnet-ip-count", s.subnetIPCount)
}

// readAction decodes an action body into v, refusing unknown fields.
func (s *Server) readAction(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return badRequest("", "malformed request: %s", jsonErrText(err))
	}
	if !atEOF(dec) {
		return badRequest("", "malformed request: data after the top-level value")
	}
	return nil
}

func (s *Server) fqnameToID(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Type   string   `json:"type"`
		FQName []string `json:"fq_name"`
	}
	if err := s.readAction(w, r, &req); err != nil {
		return err
	}
	res, err := resourceOf(req.Type)
	if err != nil {
		return err
	}
	s.cache.RLock()
	u, ok := s.cache.LookupFQ(res.Name, req.FQName)
	s.cache.RUnlock()
	if !ok {
		ctx, cancel := s.timeout(r)
		defer cancel()
		if err := s.syncCache(ctx); err != nil {
			return err
		}
		s.cache.RLock()
		u, ok = s.cache.LookupFQ(res.Name, req.FQName)
		s.cache.RUnlock()
		if !ok {
			return notFound("fq_name", "Name %s not found", model.FQNameString(req.FQName))
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"uuid": u})
	return nil
}

func (s *Server) idToFQName(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		UUID string `json:"uuid"`
	}
	if err := s.readAction(w, r, &req); err != nil {
		return err
	}
	ctx, cancel := s.timeout(r)
	defer cancel()
	var out map[string]any
	if err := s.withFresh(ctx, func() error {
		n := s.cache.Get(strings.ToLower(req.UUID))
		if n == nil {
			return errMiss{notFound("uuid", "UUID %s not found", req.UUID)}
		}
		out = map[string]any{"fq_name": n.Obj.FQName, "type": n.Obj.Type}
		return nil
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) refUpdate(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Type      string          `json:"type"`
		UUID      string          `json:"uuid"`
		RefType   string          `json:"ref-type"`
		RefUUID   string          `json:"ref-uuid"`
		RefFQName []string        `json:"ref-fq-name"`
		Operation string          `json:"operation"`
		Attr      json.RawMessage `json:"attr"`
		Relax     bool            `json:"relax_ref_for_delete"`
	}
	if err := s.readAction(w, r, &req); err != nil {
		return err
	}
	res, err := resourceOf(req.Type)
	if err != nil {
		return err
	}
	field := schema.RefsField(req.RefType)
	if res.RefField(field) == nil {
		return badRequest("ref-type", "%s has no refs to %q", res.Name, req.RefType)
	}
	op := strings.ToUpper(req.Operation)
	if op != "ADD" && op != "DELETE" {
		return badRequest("operation", "operation must be ADD or DELETE, got %q", req.Operation)
	}
	id, ok := canonicalUUID(req.UUID)
	if !ok {
		return badRequest("uuid", "%q is not a valid UUID", req.UUID)
	}
	ctx, cancel := s.timeout(r)
	defer cancel()
	// Resolve the target, then build the new ref list from the current one.
	refUUID := strings.ToLower(req.RefUUID)
	if refUUID == "" {
		if len(req.RefFQName) == 0 {
			return badRequest("ref-uuid", "ref-uuid or ref-fq-name is required")
		}
		if err := s.withFresh(ctx, func() error {
			u, ok := s.cache.LookupFQ(req.RefType, req.RefFQName)
			if !ok {
				return errMiss{notFound("ref-fq-name", "%s %s not found", req.RefType, model.FQNameString(req.RefFQName))}
			}
			refUUID = u
			return nil
		}); err != nil {
			return err
		}
	}
	_, err = s.retryFresh(ctx, func() (*txn, error) {
		n := s.cache.Get(id)
		if n == nil || n.Obj.Type != res.Name {
			return nil, errMiss{notFound("uuid", "%s %s not found", res.Name, id)}
		}
		refs := make([]refInput, 0, len(n.Obj.Refs[field])+1)
		for _, r := range n.Obj.Refs[field] {
			if r.UUID == refUUID {
				continue // replaced (ADD updates the attr) or removed
			}
			refs = append(refs, refInput{UUID: r.UUID, Attr: r.Attr})
		}
		if op == "ADD" {
			refs = append(refs, refInput{UUID: refUUID, Attr: req.Attr})
		}
		raw, _ := json.Marshal(refs)
		d, err := parseDraft(res, map[string]json.RawMessage{field: raw})
		if err != nil {
			return nil, err
		}
		u := &updateOp{s: s, t: &txn{}, d: d}
		if err := u.prepare(id); err != nil {
			return nil, err
		}
		if req.Relax && op == "ADD" {
			for i := range u.o.Refs[field] {
				if u.o.Refs[field][i].UUID == refUUID {
					u.o.Refs[field][i].Relaxed = true
				}
			}
			u.t = &txn{}
			if err := s.emitUpdate(u.t, n, u.o); err != nil {
				return nil, err
			}
		}
		return u.t, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"uuid": id})
	return nil
}

func (s *Server) refRelax(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		UUID    string `json:"uuid"`
		RefUUID string `json:"ref-uuid"`
	}
	if err := s.readAction(w, r, &req); err != nil {
		return err
	}
	id, refID := strings.ToLower(req.UUID), strings.ToLower(req.RefUUID)
	ctx, cancel := s.timeout(r)
	defer cancel()
	_, err := s.retryFresh(ctx, func() (*txn, error) {
		n := s.cache.Get(id)
		if n == nil {
			return nil, errMiss{notFound("uuid", "%s not found", id)}
		}
		o := n.Obj.Clone()
		found := false
		for _, list := range o.Refs {
			for i := range list {
				if list[i].UUID == refID {
					list[i].Relaxed = true
					found = true
				}
			}
		}
		if !found {
			return nil, errMiss{notFound("ref-uuid", "%s has no reference to %s", id, refID)}
		}
		t := &txn{}
		return t, s.emitUpdate(t, n, o)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"uuid": id})
	return nil
}

// collectionProp returns the ListProperty or MapProperty name of an object.
func collectionProp(res *schema.Resource, name string) (*schema.Property, error) {
	p := res.Prop(name)
	if p == nil {
		return nil, badRequest("fields", "%s has no property %q", res.Name, name)
	}
	if p.Kind != schema.PropList && p.Kind != schema.PropMap {
		return nil, badRequest("fields", "%s is not a list or map property", name)
	}
	return p, nil
}

func (s *Server) propCollectionGet(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	id := strings.ToLower(q.Get("uuid"))
	ctx, cancel := s.timeout(r)
	defer cancel()
	var o *model.Object
	if err := s.withFresh(ctx, func() error {
		n := s.cache.Get(id)
		if n == nil {
			return errMiss{notFound("uuid", "%s not found", id)}
		}
		o = n.Obj
		return nil
	}); err != nil {
		return err
	}
	res := schema.Lookup(o.Type)
	names := splitList(q.Get("fields"))
	if len(names) == 0 {
		for _, p := range res.Props {
			if p.Kind == schema.PropList || p.Kind == schema.PropMap {
				names = append(names, p.Name)
			}
		}
	}
	position := q.Get("position")
	out := map[string]any{}
	for _, name := range names {
		p, err := collectionProp(res, name)
		if err != nil {
			return err
		}
		items := collectionItems(o, p)
		if position != "" {
			var one [][2]any
			for _, it := range items {
				if it[1] == position {
					one = append(one, it)
				}
			}
			items = one
		}
		if items == nil {
			items = [][2]any{}
		}
		out[name] = items
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// collectionItems lists a collection property as [value, position] pairs:
// positions are indexes for lists and keys for maps.
func collectionItems(o *model.Object, p *schema.Property) [][2]any {
	raw, ok := o.Props[p.Name]
	if !ok {
		return nil
	}
	v, _ := decodeValue(raw)
	m, _ := v.(map[string]any)
	lf := p.ListField()
	if m == nil || lf == nil {
		return nil
	}
	list, _ := m[lf.Name].([]any)
	var out [][2]any
	for i, e := range list {
		pos := strconv.Itoa(i)
		if p.Kind == schema.PropMap {
			if em, ok := e.(map[string]any); ok {
				pos = fmt.Sprint(em[p.MapKey])
			}
		}
		out = append(out, [2]any{e, pos})
	}
	return out
}

func (s *Server) propCollectionUpdate(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		UUID    string `json:"uuid"`
		Updates []struct {
			Field     string          `json:"field"`
			Operation string          `json:"operation"`
			Value     json.RawMessage `json:"value"`
			Position  any             `json:"position"`
		} `json:"updates"`
	}
	if err := s.readAction(w, r, &req); err != nil {
		return err
	}
	id := strings.ToLower(req.UUID)
	ctx, cancel := s.timeout(r)
	defer cancel()
	_, err := s.retryFresh(ctx, func() (*txn, error) {
		n := s.cache.Get(id)
		if n == nil {
			return nil, errMiss{notFound("uuid", "%s not found", id)}
		}
		res := schema.Lookup(n.Obj.Type)
		fields := map[string]json.RawMessage{}
		lists := map[string][]any{}
		for i, u := range req.Updates {
			path := fmt.Sprintf("updates[%d]", i)
			p, err := collectionProp(res, u.Field)
			if err != nil {
				return nil, badRequest(path+".field", "%v", err)
			}
			lf := p.ListField()
			list, ok := lists[u.Field]
			if !ok {
				for _, it := range collectionItems(n.Obj, p) {
					list = append(list, it[0])
				}
			}
			var val any
			if len(u.Value) > 0 {
				val, _ = decodeValue(u.Value)
			}
			pos := fmt.Sprint(u.Position)
			find := func() int {
				for j, e := range list {
					if p.Kind == schema.PropMap {
						if em, ok := e.(map[string]any); ok && fmt.Sprint(em[p.MapKey]) == pos {
							return j
						}
					} else if strconv.Itoa(j) == pos {
						return j
					}
				}
				return -1
			}
			switch strings.ToLower(u.Operation) {
			case "add", "set":
				if val == nil {
					return nil, badRequest(path+".value", "value is required")
				}
				if p.Kind == schema.PropMap {
					em, _ := val.(map[string]any)
					if em == nil {
						return nil, badRequest(path+".value", "must be an object")
					}
					pos = fmt.Sprint(em[p.MapKey])
					if j := find(); j >= 0 {
						list[j] = val
						break
					}
				}
				list = append(list, val)
			case "modify":
				j := find()
				if j < 0 {
					return nil, errMiss{notFound(path+".position", "no element at position %s", pos)}
				}
				list[j] = val
			case "delete":
				j := find()
				if j < 0 {
					return nil, errMiss{notFound(path+".position", "no element at position %s", pos)}
				}
				list = append(list[:j:j], list[j+1:]...)
			default:
				return nil, badRequest(path+".operation", "unknown operation %q", u.Operation)
			}
			lists[u.Field] = list
			b, _ := json.Marshal(map[string]any{lf.Name: list})
			fields[u.Field] = b
		}
		d, err := parseDraft(res, fields)
		if err != nil {
			return nil, err
		}
		up := &updateOp{s: s, t: &txn{}, d: d}
		if err := up.prepare(id); err != nil {
			return nil, err
		}
		return up.t, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"uuid": id})
	return nil
}

func (s *Server) listBulk(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Type         string     `json:"type"`
		ParentID     []string   `json:"parent_id"`
		BackRefID    []string   `json:"back_ref_id"`
		ObjUUIDs     []string   `json:"obj_uuids"`
		FQNames      [][]string `json:"fq_names"`
		Detail       bool       `json:"detail"`
		Count        bool       `json:"count"`
		Shared       bool       `json:"shared"`
		Filters      string     `json:"filters"`
		Fields       []string   `json:"fields"`
		ExcludeHrefs bool       `json:"exclude_hrefs"`
		PageMarker   string     `json:"page_marker"`
		PageLimit    int        `json:"page_limit"`
	}
	if err := s.readAction(w, r, &req); err != nil {
		return err
	}
	res, err := resourceOf(req.Type)
	if err != nil {
		return err
	}
	lq := &listQuery{
		parentIDs: req.ParentID, backRefIDs: req.BackRefID, objUUIDs: req.ObjUUIDs, fqNames: req.FQNames,
		detail: req.Detail, count: req.Count, excludeHrefs: req.ExcludeHrefs,
		pageMarker: req.PageMarker, pageLimit: req.PageLimit,
	}
	if len(req.Fields) > 0 {
		lq.fields = map[string]bool{}
		for _, f := range req.Fields {
			lq.fields[f] = true
		}
	}
	if lq.filters, err = parseFilters(req.Filters); err != nil {
		return err
	}
	return s.writeList(w, r, res, lq)
}

func (s *Server) useragentKV(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Operation string `json:"operation"`
		Key       string `json:"key"`
		Value     string `json:"value"`
	}
	if err := s.readAction(w, r, &req); err != nil {
		return err
	}
	if req.Key == "" {
		return badRequest("key", "key is required")
	}
	ctx, cancel := s.timeout(r)
	defer cancel()
	key := s.keys.KV(req.Key)
	switch strings.ToUpper(req.Operation) {
	case "STORE":
		if _, err := s.st.Client.Put(ctx, key, req.Value); err != nil {
			return apiErr(ErrUnavailable, "", "store: %v", err)
		}
		writeJSON(w, http.StatusOK, map[string]string{})
	case "RETRIEVE":
		resp, err := s.st.Client.Get(ctx, key)
		if err != nil {
			return apiErr(ErrUnavailable, "", "store: %v", err)
		}
		if len(resp.Kvs) == 0 {
			return notFound("key", "key %q not found", req.Key)
		}
		writeJSON(w, http.StatusOK, map[string]string{"value": string(resp.Kvs[0].Value)})
	case "DELETE":
		if _, err := s.st.Client.Delete(ctx, key); err != nil {
			return apiErr(ErrUnavailable, "", "store: %v", err)
		}
		writeJSON(w, http.StatusOK, map[string]string{})
	default:
		return badRequest("operation", "operation must be STORE, RETRIEVE or DELETE, got %q", req.Operation)
	}
	return nil
}

func (s *Server) objPerms(w http.ResponseWriter, r *http.Request) error {
	id := strings.ToLower(r.URL.Query().Get("uuid"))
	ctx, cancel := s.timeout(r)
	defer cancel()
	var perms2 json.RawMessage
	if err := s.withFresh(ctx, func() error {
		n := s.cache.Get(id)
		if n == nil {
			return errMiss{notFound("uuid", "%s not found", id)}
		}
		perms2 = n.Obj.Props["perms2"]
		return nil
	}); err != nil {
		return err
	}
	// Authentication is not configured (aaa-mode no-auth): every caller is admin.
	writeJSON(w, http.StatusOK, map[string]any{
		"permissions": "RWX", "is_cloud_admin_role": true, "is_global_read_only_role": false,
		"token_info": nil, "perms2": perms2,
	})
	return nil
}

// changePerms2 applies fn to an object's perms2 in one guarded write.
func (s *Server) changePerms2(r *http.Request, id string, fn func(p map[string]any) error) error {
	ctx, cancel := s.timeout(r)
	defer cancel()
	_, err := s.retryFresh(ctx, func() (*txn, error) {
		n := s.cache.Get(id)
		if n == nil {
			return nil, errMiss{notFound("uuid", "%s not found", id)}
		}
		o := n.Obj.Clone()
		p, _ := decodeProp(o, "perms2").(map[string]any)
		if p == nil {
			p = map[string]any{}
		}
		if err := fn(p); err != nil {
			return nil, err
		}
		b, _ := json.Marshal(p)
		if res := schema.Lookup(o.Type); res != nil {
			if err := res.Prop("perms2").Validate(mustDecode(b)); err != nil {
				return nil, schemaErr(err)
			}
		}
		o.Props["perms2"] = b
		t := &txn{}
		return t, s.emitUpdate(t, n, o)
	})
	return err
}

func mustDecode(b []byte) any {
	v, _ := decodeValue(b)
	return v
}

func (s *Server) chown(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		UUID  string `json:"uuid"`
		Owner string `json:"owner"`
	}
	if err := s.readAction(w, r, &req); err != nil {
		return err
	}
	if req.Owner == "" {
		return badRequest("owner", "owner is required")
	}
	id := strings.ToLower(req.UUID)
	if err := s.changePerms2(r, id, func(p map[string]any) error {
		p["owner"] = strings.ReplaceAll(req.Owner, "-", "")
		return nil
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{})
	return nil
}

func (s *Server) chmod(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		UUID         string            `json:"uuid"`
		Owner        *string           `json:"owner"`
		OwnerAccess  *json.Number      `json:"owner_access"`
		GlobalAccess *json.Number      `json:"global_access"`
		Share        *[]map[string]any `json:"share"`
	}
	if err := s.readAction(w, r, &req); err != nil {
		return err
	}
	id := strings.ToLower(req.UUID)
	if err := s.changePerms2(r, id, func(p map[string]any) error {
		if req.Owner != nil {
			p["owner"] = *req.Owner
		}
		if req.OwnerAccess != nil {
			p["owner_access"] = *req.OwnerAccess
		}
		if req.GlobalAccess != nil {
			p["global_access"] = *req.GlobalAccess
		}
		if req.Share != nil {
			share := make([]any, 0, len(*req.Share))
			for i, e := range *req.Share {
				t, _ := e["tenant"].(string)
				if t == "" {
					return badRequest(fmt.Sprintf("share[%d].tenant", i), "tenant is required")
				}
				share = append(share, e)
			}
			p["share"] = share
		}
		return nil
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{})
	return nil
}

// setTag sets the tag refs of an object: {"obj_type", "obj_uuid",
// "<tag-type>": {"value", "is_global", "add_values", "delete_values"} or null}.
func (s *Server) setTag(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	var req map[string]json.RawMessage
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	var objType, objUUID string
	json.Unmarshal(req["obj_type"], &objType)
	json.Unmarshal(req["obj_uuid"], &objUUID)
	res, err := resourceOf(objType)
	if err != nil {
		return badRequest("obj_type", "%v", err)
	}
	if res.RefField("tag_refs") == nil {
		return badRequest("obj_type", "%s cannot be tagged", objType)
	}
	id := strings.ToLower(objUUID)
	ctx, cancel := s.timeout(r)
	defer cancel()
	_, err = s.retryFresh(ctx, func() (*txn, error) {
		n := s.cache.Get(id)
		if n == nil || n.Obj.Type != res.Name {
			return nil, errMiss{notFound("obj_uuid", "%s %s not found", objType, objUUID)}
		}
		// Current tags by type, from the tag objects' names "<type>=<value>".
		current := map[string][]string{} // tag type -> tag uuids
		for _, ref := range n.Obj.Refs["tag_refs"] {
			name := ref.To[len(ref.To)-1]
			tt, _, _ := strings.Cut(name, "=")
			current[tt] = append(current[tt], ref.UUID)
		}
		projectFQ := s.projectFQOf(n)
		keys := make([]string, 0, len(req))
		for k := range req {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, tt := range keys {
			if tt == "obj_type" || tt == "obj_uuid" {
				continue
			}
			raw := req[tt]
			if isNull(raw) {
				delete(current, tt)
				continue
			}
			var spec struct {
				Value        *string  `json:"value"`
				IsGlobal     bool     `json:"is_global"`
				AddValues    []string `json:"add_values"`
				DeleteValues []string `json:"delete_values"`
			}
			if err := json.Unmarshal(raw, &spec); err != nil {
				return nil, badRequest(tt, "malformed tag spec: %s", jsonErrText(err))
			}
			find := func(value string) (string, error) {
				name := tt + "=" + value
				fq := []string{name}
				if !spec.IsGlobal && projectFQ != nil {
					fq = append(append([]string(nil), projectFQ...), name)
				}
				u, ok := s.cache.LookupFQ("tag", fq)
				if !ok {
					return "", errMiss{notFound(tt, "tag %s not found", model.FQNameString(fq))}
				}
				return u, nil
			}
			if spec.Value != nil {
				u, err := find(*spec.Value)
				if err != nil {
					return nil, err
				}
				current[tt] = []string{u}
			}
			for _, v := range spec.AddValues {
				u, err := find(v)
				if err != nil {
					return nil, err
				}
				current[tt] = append(current[tt], u)
			}
			for _, v := range spec.DeleteValues {
				u, err := find(v)
				if err != nil {
					return nil, err
				}
				kept := current[tt][:0]
				for _, x := range current[tt] {
					if x != u {
						kept = append(kept, x)
					}
				}
				current[tt] = kept
			}
		}
		var refs []refInput
		seen := map[string]bool{}
		for _, list := range current {
			for _, u := range list {
				if !seen[u] {
					seen[u] = true
					refs = append(refs, refInput{UUID: u})
				}
			}
		}
		sort.Slice(refs, func(i, j int) bool { return refs[i].UUID < refs[j].UUID })
		rawRefs, _ := json.Marshal(refs)
		d, err := parseDraft(res, map[string]json.RawMessage{"tag_refs": rawRefs})
		if err != nil {
			return nil, err
		}
		up := &updateOp{s: s, t: &txn{}, d: d}
		if err := up.prepare(id); err != nil {
			return nil, err
		}
		return up.t, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{})
	return nil
}

// projectFQOf returns the fq-name of the project an object lives in, or nil.
func (s *Server) projectFQOf(n *node) []string {
	for n != nil {
		if n.Obj.Type == "project" {
			return n.Obj.FQName
		}
		n = s.cache.Get(n.Obj.ParentUUID)
	}
	return nil
}

// ipAlloc allocates addresses from a network without an instance-ip object
// (the original's /virtual-network/<id>/ip-alloc); they stay taken until
// /ip-free.
func (s *Server) ipAlloc(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Count  int    `json:"count"`
		Subnet string `json:"subnet"`
		Family string `json:"family"`
	}
	if err := s.readAction(w, r, &req); err != nil {
		return err
	}
	if req.Count == 0 {
		req.Count = 1
	}
	if req.Count < 0 || req.Count > 4096 {
		return badRequest("count", "count must be between 1 and 4096")
	}
	id := strings.ToLower(r.PathValue("id"))
	ctx, cancel := s.timeout(r)
	defer cancel()
	var addrs []string
	_, err := s.retryFresh(ctx, func() (*txn, error) {
		vn := s.cache.Get(id)
		if vn == nil || vn.Obj.Type != "virtual-network" {
			return nil, errMiss{notFound("uuid", "virtual-network %s not found", id)}
		}
		c := &createOp{s: s, t: &txn{}, o: &model.Object{UUID: "ip-alloc:" + id}}
		req2 := addrRequest{prop: "ip_addr", family: req.Family}
		if req.Subnet != "" {
			p, err := netip.ParsePrefix(req.Subnet)
			if err != nil {
				return nil, badRequest("subnet", "%q is not a prefix", req.Subnet)
			}
			for _, sn := range s.vnSubnets(s.cache, vn.Obj) {
				if sn.Prefix == p.Masked() {
					req2.subnet = sn.UUID
				}
			}
			if req2.subnet == "" {
				return nil, badRequest("subnet", "%s is not a subnet of the network", req.Subnet)
			}
		}
		addrs = addrs[:0]
		for range req.Count {
			_, a, err := s.allocAddr(c, vn.Obj, req2)
			if err != nil {
				s.alloc.release(c.t.reserved)
				return nil, err
			}
			addrs = append(addrs, a.String())
		}
		// The network and its subnets must still be there when the addresses are taken.
		s.guardSubnets(c.t, vn)
		return c.t, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"ip_addr": addrs})
	return nil
}

func (s *Server) ipFree(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		IPAddr []string `json:"ip_addr"`
	}
	if err := s.readAction(w, r, &req); err != nil {
		return err
	}
	id := strings.ToLower(r.PathValue("id"))
	ctx, cancel := s.timeout(r)
	defer cancel()
	var keys []string
	if err := s.withFresh(ctx, func() error {
		vn := s.cache.Get(id)
		if vn == nil || vn.Obj.Type != "virtual-network" {
			return errMiss{notFound("uuid", "virtual-network %s not found", id)}
		}
		keys = keys[:0]
		subnets := s.vnSubnets(s.cache, vn.Obj)
		for _, str := range req.IPAddr {
			a, err := netip.ParseAddr(str)
			if err != nil {
				return badRequest("ip_addr", "%q is not an IP address", str)
			}
			if sn := subnetFor(subnets, a); sn != nil {
				keys = append(keys, s.keys.IP(sn.UUID, a.String()))
			}
		}
		return nil
	}); err != nil {
		return err
	}
	owner := "ip-alloc:" + id
	for _, k := range keys {
		// Only addresses from /ip-alloc are freed here; object addresses go with their object.
		_, err := s.st.Client.Txn(ctx).If(clientv3.Compare(clientv3.Value(k), "=", owner)).Then(clientv3.OpDelete(k)).Commit()
		if err != nil {
			return apiErr(ErrUnavailable, "", "store: %v", err)
		}
		s.alloc.forgetExternal(k)
	}
	writeJSON(w, http.StatusOK, map[string]any{})
	return nil
}

func (s *Server) subnetIPCount(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		SubnetList []string `json:"subnet_list"`
	}
	if err := s.readAction(w, r, &req); err != nil {
		return err
	}
	id := strings.ToLower(r.PathValue("id"))
	ctx, cancel := s.timeout(r)
	defer cancel()
	var uuids []string
	if err := s.withFresh(ctx, func() error {
		vn := s.cache.Get(id)
		if vn == nil || vn.Obj.Type != "virtual-network" {
			return errMiss{notFound("uuid", "virtual-network %s not found", id)}
		}
		uuids = uuids[:0]
		subnets := s.vnSubnets(s.cache, vn.Obj)
		for _, str := range req.SubnetList {
			p, err := netip.ParsePrefix(str)
			if err != nil {
				return badRequest("subnet_list", "%q is not a prefix", str)
			}
			u := ""
			for _, sn := range subnets {
				if sn.Prefix == p.Masked() {
					u = sn.UUID
				}
			}
			uuids = append(uuids, u)
		}
		return nil
	}); err != nil {
		return err
	}
	counts := make([]int64, len(uuids))
	for i, u := range uuids {
		if u == "" {
			continue
		}
		resp, err := s.st.Client.Get(ctx, s.keys.IPs(u), clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return apiErr(ErrUnavailable, "", "store: %v", err)
		}
		counts[i] = resp.Count
	}
	writeJSON(w, http.StatusOK, map[string]any{"ip_count_list": counts})
	return nil
}
