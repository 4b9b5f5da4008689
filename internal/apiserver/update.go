// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/schema"
)

// updateOp is one PUT while it is prepared.
type updateOp struct {
	s        *Server
	t        *txn
	d        *draft
	n        *node
	old, o   *model.Object
	internal bool
}

// immutable refuses a change of a system-managed property.
func (u *updateOp) immutable(name string) error {
	nv, inNew := u.d.props[name]
	if !inNew {
		for _, n := range u.d.nulls {
			if n == name {
				if _, had := u.old.Props[name]; had {
					return forbidden(name, "%s cannot be changed", name)
				}
			}
		}
		return nil
	}
	ov := u.old.Props[name]
	if !jsonEqual(ov, nv) {
		return forbidden(name, "%s cannot be changed", name)
	}
	return nil
}

func jsonEqual(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	va, err1 := decodeValue(a)
	vb, err2 := decodeValue(b)
	if err1 != nil || err2 != nil {
		return false
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}

// update applies a PUT body to the object uuid.
func (s *Server) update(ctx context.Context, res *schema.Resource, id string, fields map[string]json.RawMessage, internal bool) (*model.Object, error) {
	d, err := parseDraft(res, fields)
	if err != nil {
		return nil, err
	}
	return s.updateDraft(ctx, id, d, internal)
}

func (s *Server) updateDraft(ctx context.Context, id string, d *draft, internal bool) (*model.Object, error) {
	var obj *model.Object
	_, err := s.retry(ctx, func() (*txn, error) {
		var u *updateOp
		t, err := s.prepareFresh(ctx, func() (*txn, error) {
			u = &updateOp{s: s, t: &txn{}, d: d, internal: internal}
			return u.t, u.prepare(id)
		})
		if err != nil {
			return nil, err
		}
		obj = u.o
		return t, nil
	})
	if err != nil {
		return nil, err
	}
	s.m.objectOps.WithLabelValues(d.res.Name, "update").Inc()
	return obj, nil
}

func (u *updateOp) prepare(id string) error {
	s, d := u.s, u.d
	n := s.cache.Get(id)
	if n == nil || n.Obj.Type != d.res.Name {
		return errMiss{notFound("uuid", "%s %s not found", d.res.Name, id)}
	}
	u.n, u.old = n, n.Obj
	if d.uuid != "" && d.uuid != id {
		return badRequest("uuid", "uuid cannot be changed (%s in body, %s in path)", d.uuid, id)
	}
	if len(d.fqName) > 0 && model.FQNameString(d.fqName) != n.Obj.FQNameString() {
		return badRequest("fq_name", "fq_name cannot be changed")
	}
	if d.parentType != "" && n.Obj.ParentType != "" && d.parentType != n.Obj.ParentType {
		return badRequest("parent_type", "parent cannot be changed")
	}
	o := n.Obj.Clone()
	u.o = o
	for name, raw := range d.props {
		p := d.res.Prop(name)
		switch {
		case name == "id_perms":
			merged, err := mergeIDPerms(o.Props[name], raw)
			if err != nil {
				return err
			}
			o.Props[name] = merged
			continue
		case name == "perms2":
			// perms2 changes go through /chown and /chmod; a PUT may echo it.
			continue
		case !u.internal && p.Required == "system-only":
			if !jsonEqual(o.Props[name], raw) {
				return forbidden(name, "%s is set by the system", name)
			}
		case !u.internal && p.Operations != "" && !containsRune(p.Operations, 'U') && p.Operations != "CRUD":
			if !jsonEqual(o.Props[name], raw) {
				return forbidden(name, "%s cannot be updated", name)
			}
		}
		o.Props[name] = raw
	}
	for _, name := range d.nulls {
		if name == "id_perms" || name == "perms2" {
			continue
		}
		delete(o.Props, name)
	}
	// Touch last_modified.
	if ip, ok := decodeProp(o, "id_perms").(map[string]any); ok {
		ip["last_modified"] = time.Now().UTC().Format("2006-01-02T15:04:05.000000")
		o.Props["id_perms"], _ = json.Marshal(ip)
	}
	newRefs, err := s.resolveRefs(d.res, d.refs)
	if err != nil {
		return err
	}
	// A present _refs list replaces all refs of that type; relaxed flags
	// survive for targets that stay.
	for field := range d.refs {
		keep := map[string]bool{}
		for _, r := range o.Refs[field] {
			keep[r.UUID] = r.Relaxed
		}
		list := newRefs[field]
		for i := range list {
			list[i].Relaxed = keep[list[i].UUID]
		}
		if len(list) == 0 {
			delete(o.Refs, field)
		} else {
			if o.Refs == nil {
				o.Refs = map[string][]model.Ref{}
			}
			o.Refs[field] = list
		}
	}
	if h := hooksFor(d.res.Name); h != nil && h.update != nil {
		if err := h.update(u); err != nil {
			return err
		}
	}
	return s.emitUpdate(u.t, n, o)
}

// emitUpdate writes o over n's object, guarded by n's revision, and keeps
// the back-ref and allocation indexes in step.
func (s *Server) emitUpdate(t *txn, n *node, o *model.Object) error {
	k := s.keys
	old := n.Obj
	t.mustBeUnchanged(k.Object(old.Type, old.UUID), n.ModRev, notFound("uuid", "%s %s was deleted", old.Type, old.UUID))
	if err := t.putObject(k.Object(o.Type, o.UUID), o); err != nil {
		return err
	}
	// Back-ref index: drop the ones that went away, add the new ones.
	now := map[string]bool{}
	for _, list := range o.Refs {
		for _, r := range list {
			now[r.UUID+"/"+boolKey(r.Relaxed)] = true
		}
	}
	for _, list := range old.Refs {
		for _, r := range list {
			if !now[r.UUID+"/"+boolKey(r.Relaxed)] {
				if r.Relaxed {
					t.del(k.RelaxedRef(r.UUID, o.Type, o.UUID))
				} else {
					t.del(k.BackRef(r.UUID, o.Type, o.UUID))
				}
			}
		}
	}
	s.emitRefs(t, o, o.Refs, old.Refs)
	// Allocation keys that the object no longer holds.
	newKeys := map[string]bool{}
	for _, key := range s.allocationKeys(s.cache, o) {
		newKeys[key] = true
	}
	for _, key := range s.allocationKeys(s.cache, old) {
		if !newKeys[key] {
			t.del(key)
		}
	}
	return nil
}

func boolKey(b bool) string {
	if b {
		return "r"
	}
	return "b"
}

func containsRune(s string, r rune) bool {
	for _, c := range s {
		if c == r {
			return true
		}
	}
	return false
}

func decodeProp(o *model.Object, name string) any {
	raw, ok := o.Props[name]
	if !ok {
		return nil
	}
	v, _ := decodeValue(raw)
	return v
}

// mergeIDPerms applies the client-settable parts of id_perms (enable,
// description, user_visible, permissions) and keeps the system parts.
func mergeIDPerms(old, in json.RawMessage) (json.RawMessage, error) {
	ov, _ := decodeValue(old)
	om, _ := ov.(map[string]any)
	if om == nil {
		om = map[string]any{}
	}
	iv, err := decodeValue(in)
	if err != nil {
		return nil, badRequest("id_perms", "malformed JSON")
	}
	im, _ := iv.(map[string]any)
	for _, f := range []string{"enable", "description", "user_visible", "permissions"} {
		if v, ok := im[f]; ok && v != nil {
			om[f] = v
		}
	}
	return json.Marshal(om)
}
