// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/schema"
)

// errMiss marks a lookup that failed against the cache; the write syncs the
// cache with the store and tries once more before it reports the error.
type errMiss struct{ err *Error }

func (e errMiss) Error() string { return e.err.Error() }

// createOp is the state of one create while it is prepared.
type createOp struct {
	s        *Server
	t        *txn
	d        *draft
	o        *model.Object
	parent   *node
	internal bool // server-side create: system-only fields allowed
	// decoded holds decoded properties that hooks changed; they are encoded
	// back into o.Props when the op is finished.
	decoded map[string]any
}

// prop returns the decoded value of a property (nil when absent).
func (c *createOp) prop(name string) any {
	if v, ok := c.decoded[name]; ok {
		return v
	}
	raw, ok := c.o.Props[name]
	if !ok {
		return nil
	}
	v, _ := decodeValue(raw)
	if c.decoded == nil {
		c.decoded = map[string]any{}
	}
	c.decoded[name] = v
	return v
}

// setProp replaces a property value.
func (c *createOp) setProp(name string, v any) {
	if c.decoded == nil {
		c.decoded = map[string]any{}
	}
	c.decoded[name] = v
}

func (c *createOp) flush() error {
	for k, v := range c.decoded {
		if v == nil {
			delete(c.o.Props, k)
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s: %w", k, err)
		}
		c.o.Props[k] = b
	}
	c.decoded = nil
	return nil
}

// create validates and commits a new object; body fields are the inner
// object of {"<type>": {...}}.
func (s *Server) create(ctx context.Context, res *schema.Resource, fields map[string]json.RawMessage, internal bool) (*model.Object, error) {
	d, err := parseDraft(res, fields)
	if err != nil {
		return nil, err
	}
	return s.createDraft(ctx, d, internal)
}

func (s *Server) createDraft(ctx context.Context, d *draft, internal bool) (*model.Object, error) {
	if d.uuid == "" {
		d.uuid = uuid.NewString()
	}
	var quota *quotaCheck
	var obj *model.Object
	_, err := s.retry(ctx, func() (*txn, error) {
		var c *createOp
		t, err := s.prepareFresh(ctx, func() (*txn, error) {
			c = &createOp{s: s, t: &txn{}, d: d, internal: internal}
			err := c.prepare()
			if err == nil {
				quota = c.quotaNeeded()
			}
			return c.t, err
		})
		if err != nil {
			return nil, err
		}
		if quota != nil {
			if err := s.checkQuota(ctx, t, quota); err != nil {
				s.alloc.release(t.reserved)
				return nil, err
			}
		}
		obj = c.o
		return t, nil
	})
	if err != nil {
		return nil, err
	}
	s.m.objectOps.WithLabelValues(d.res.Name, "create").Inc()
	return obj, nil
}

// prepare resolves the draft against the cache and fills the transaction.
// Callers hold the cache read lock.
func (c *createOp) prepare() error {
	s, d := c.s, c.d
	res := d.res
	parentType, parent, fq, err := s.resolveParent(d)
	if err != nil {
		return err
	}
	c.parent = parent
	if n := s.cache.Get(d.uuid); n != nil {
		return conflict("uuid", "uuid %s already exists (%s %s)", d.uuid, n.Obj.Type, n.Obj.FQNameString())
	}
	if u, ok := s.cache.LookupFQ(res.Name, fq); ok {
		return conflict("fq_name", "%s %s already exists with uuid: %s", res.Name, model.FQNameString(fq), u)
	}
	o := &model.Object{
		Type:   res.Name,
		UUID:   d.uuid,
		FQName: fq,
		Props:  make(map[string]json.RawMessage, len(d.props)+3),
	}
	if parent != nil {
		o.ParentType, o.ParentUUID = parentType, parent.Obj.UUID
	}
	c.o = o
	for name, raw := range d.props {
		p := res.Prop(name)
		if !c.internal && p.Required == "system-only" && name != "id_perms" && name != "perms2" {
			return forbidden(name, "%s is set by the system and cannot be given on create", name)
		}
		o.Props[name] = raw
	}
	// Resource-level 'required' in the IDL describes the graph, not what a
	// client must send: the original server fills or ignores those (e.g. a
	// VMI's MAC, an instance-ip's address), so they are not enforced here.
	// Required fields inside complex types are enforced by the validator.
	if _, ok := o.Props["display_name"]; !ok {
		o.Props["display_name"], _ = json.Marshal(o.Name())
	}
	if err := c.fillPerms(); err != nil {
		return err
	}
	refs, err := s.resolveRefs(res, d.refs)
	if err != nil {
		return err
	}
	o.Refs = refs
	if h := hooksFor(res.Name); h != nil && h.create != nil {
		if err := h.create(c); err != nil {
			return err
		}
	}
	if err := c.flush(); err != nil {
		return err
	}
	return s.emitCreate(c.t, o, parent)
}

// emitCreate adds the guards and writes of a new object to t. parent is nil
// for top-level objects and for parents created in the same transaction.
func (s *Server) emitCreate(t *txn, o *model.Object, parent *node) error {
	k := s.keys
	t.mustBeAbsent(k.UUID(o.UUID), conflict("uuid", "uuid %s already exists", o.UUID))
	t.mustBeAbsent(k.FQName(o.Type, o.FQName), conflict("fq_name", "%s %s already exists", o.Type, o.FQNameString()))
	if parent != nil {
		t.mustExist(k.Object(parent.Obj.Type, parent.Obj.UUID), parent.CreateRev,
			badRequest("parent_type", "parent %s %s does not exist", parent.Obj.Type, parent.Obj.FQNameString()))
	}
	if err := t.putObject(k.Object(o.Type, o.UUID), o); err != nil {
		return err
	}
	t.put(k.FQName(o.Type, o.FQName), o.UUID)
	t.put(k.UUID(o.UUID), o.Type)
	if o.ParentUUID != "" {
		t.put(k.Child(o.ParentUUID, o.Type, o.UUID), "")
		if o.ParentType == "project" {
			t.put(k.Seq(o.ParentUUID, o.Type), "")
		}
	}
	s.emitRefs(t, o, o.Refs, nil)
	return nil
}

// emitRefs guards the targets of refs that are new and writes their
// back-reference index entries; old holds refs already in the store.
func (s *Server) emitRefs(t *txn, o *model.Object, refs, old map[string][]model.Ref) {
	k := s.keys
	seen := map[string]bool{}
	for _, list := range old {
		for _, r := range list {
			seen[r.UUID] = true
		}
	}
	for field, list := range refs {
		for i, r := range list {
			if !seen[r.UUID] {
				if n := s.cache.Get(r.UUID); n != nil {
					t.mustExist(k.Object(n.Obj.Type, r.UUID), n.CreateRev,
						notFound(fmt.Sprintf("%s[%d]", field, i), "referred object %s does not exist", r.UUID))
				}
			}
			if r.Relaxed {
				t.put(k.RelaxedRef(r.UUID, o.Type, o.UUID), "")
			} else {
				t.put(k.BackRef(r.UUID, o.Type, o.UUID), "")
			}
		}
	}
}

// resolveParent finds the parent of a new object and its fq-name.
func (s *Server) resolveParent(d *draft) (string, *node, []string, error) {
	res := d.res
	fq := d.fqName
	var parentTypes []string
	for _, l := range res.Parents {
		parentTypes = append(parentTypes, l.From)
	}
	underRoot := false
	for _, pt := range parentTypes {
		if pt == "config-root" {
			underRoot = true
		}
	}
	topLevel := len(parentTypes) == 0 || (len(parentTypes) == 1 && underRoot) ||
		(underRoot && (d.parentType == "config-root" || d.parentType == "" && d.parentUUID == "" && len(fq) == 1))
	if topLevel {
		if d.parentType != "" && d.parentType != "config-root" {
			return "", nil, nil, badRequest("parent_type", "%s has no parent, got %q", res.Name, d.parentType)
		}
		if len(fq) == 0 && d.name != "" {
			fq = []string{d.name}
		}
		if len(fq) != 1 {
			return "", nil, nil, badRequest("fq_name", "%s is top-level: fq_name must have exactly one element, got %d", res.Name, len(fq))
		}
		return "", nil, fq, nil
	}
	pt := d.parentType
	var parent *node
	if d.parentUUID != "" {
		u, ok := canonicalUUID(d.parentUUID)
		if !ok {
			return "", nil, nil, badRequest("parent_uuid", "%q is not a valid UUID", d.parentUUID)
		}
		parent = s.cache.Get(u)
		if parent == nil {
			return "", nil, nil, errMiss{badRequest("parent_uuid", "parent %s does not exist", u)}
		}
		if pt == "" {
			pt = parent.Obj.Type
		}
	}
	if pt == "" {
		if len(parentTypes) == 1 {
			pt = parentTypes[0]
		} else if len(fq) > 1 {
			// Several parent types are possible: pick the one whose fq-name exists.
			for _, cand := range parentTypes {
				if _, ok := s.cache.LookupFQ(cand, fq[:len(fq)-1]); ok {
					pt = cand
					break
				}
			}
		}
		if pt == "" {
			return "", nil, nil, badRequest("parent_type", "parent_type is required for %s, one of %v", res.Name, parentTypes)
		}
	}
	valid := false
	for _, cand := range parentTypes {
		if cand == pt {
			valid = true
		}
	}
	if !valid {
		return "", nil, nil, badRequest("parent_type", "%q is not a parent type of %s (allowed: %v)", pt, res.Name, parentTypes)
	}
	if len(fq) == 0 {
		if d.name == "" || parent == nil {
			return "", nil, nil, badRequest("fq_name", "fq_name is required")
		}
		fq = append(append([]string(nil), parent.Obj.FQName...), d.name)
	}
	if len(fq) < 2 {
		return "", nil, nil, badRequest("fq_name", "fq_name of a %s must include its parent's fq_name", res.Name)
	}
	if parent == nil {
		u, ok := s.cache.LookupFQ(pt, fq[:len(fq)-1])
		if !ok {
			return "", nil, nil, errMiss{badRequest("parent_type", "Parent %s %s does not exist", pt, model.FQNameString(fq[:len(fq)-1]))}
		}
		parent = s.cache.Get(u)
	} else if parent.Obj.Type != pt || model.FQNameString(parent.Obj.FQName) != model.FQNameString(fq[:len(fq)-1]) {
		return "", nil, nil, badRequest("parent_uuid", "parent %s is %s %s, which does not match fq_name %v and parent_type %s",
			parent.Obj.UUID, parent.Obj.Type, parent.Obj.FQNameString(), fq, pt)
	}
	return pt, parent, fq, nil
}

// resolveRefs turns client refs into stored refs. Callers hold the cache read lock.
func (s *Server) resolveRefs(res *schema.Resource, in map[string][]refInput) (map[string][]model.Ref, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string][]model.Ref, len(in))
	for field, list := range in {
		l := res.RefField(field)
		refs := make([]model.Ref, 0, len(list))
		seen := map[string]bool{}
		for i, r := range list {
			path := fmt.Sprintf("%s[%d]", field, i)
			var n *node
			if r.UUID != "" {
				n = s.cache.Get(r.UUID)
				if n == nil {
					return nil, errMiss{notFound(path, "%s %s does not exist", l.To, r.UUID)}
				}
				if n.Obj.Type != l.To {
					return nil, badRequest(path, "%s is a %s, not a %s", r.UUID, n.Obj.Type, l.To)
				}
			} else {
				u, ok := s.cache.LookupFQ(l.To, r.To)
				if !ok {
					return nil, errMiss{notFound(path, "%s %s does not exist", l.To, model.FQNameString(r.To))}
				}
				n = s.cache.Get(u)
			}
			if seen[n.Obj.UUID] {
				return nil, badRequest(path, "duplicate reference to %s", n.Obj.UUID)
			}
			seen[n.Obj.UUID] = true
			refs = append(refs, model.Ref{To: n.Obj.FQName, UUID: n.Obj.UUID, Attr: r.Attr})
		}
		if len(refs) > 0 {
			out[field] = refs
		}
	}
	return out, nil
}

// fillPerms sets id_perms and perms2 as the original does.
func (c *createOp) fillPerms() error {
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000")
	ip := map[string]any{}
	if v, ok := c.prop("id_perms").(map[string]any); ok {
		ip = v
	}
	u, _ := uuid.Parse(c.o.UUID)
	ip["uuid"] = map[string]any{
		"uuid_mslong": json.Number(fmt.Sprint(binary.BigEndian.Uint64(u[:8]))),
		"uuid_lslong": json.Number(fmt.Sprint(binary.BigEndian.Uint64(u[8:]))),
	}
	if _, ok := ip["enable"]; !ok || ip["enable"] == nil {
		ip["enable"] = true
	}
	if ip["user_visible"] == nil {
		ip["user_visible"] = true
	}
	ip["created"] = now
	ip["last_modified"] = now
	if ip["permissions"] == nil {
		ip["permissions"] = map[string]any{
			"owner": "cloud-admin", "owner_access": json.Number("7"),
			"group": "cloud-admin-group", "group_access": json.Number("7"),
			"other_access": json.Number("7"),
		}
	}
	if _, ok := ip["description"]; !ok {
		ip["description"] = nil
	}
	if _, ok := ip["creator"]; !ok {
		ip["creator"] = nil
	}
	c.setProp("id_perms", ip)
	p2 := map[string]any{}
	if v, ok := c.prop("perms2").(map[string]any); ok {
		p2 = v
	}
	if p2["owner"] == nil {
		p2["owner"] = c.owner()
	}
	if p2["owner_access"] == nil {
		p2["owner_access"] = json.Number("7")
	}
	if p2["global_access"] == nil {
		p2["global_access"] = json.Number("0")
	}
	if p2["share"] == nil {
		p2["share"] = []any{}
	}
	c.setProp("perms2", p2)
	return nil
}

// owner is the project that owns a new object: its nearest project
// ancestor, as a uuid without dashes (the original's tenant id form).
func (c *createOp) owner() string {
	n := c.parent
	for n != nil {
		if n.Obj.Type == "project" {
			return strings.ReplaceAll(n.Obj.UUID, "-", "")
		}
		n = c.s.cache.Get(n.Obj.ParentUUID)
	}
	if c.o.Type == "project" {
		return strings.ReplaceAll(c.o.UUID, "-", "")
	}
	return "cloud-admin"
}
