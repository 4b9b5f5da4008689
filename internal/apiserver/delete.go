// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"context"
	"fmt"
	"sort"

	"github.com/contrail-go/contrail/internal/ipam"
	"github.com/contrail-go/contrail/internal/model"
)

// deleteObject removes one object, refusing while children or blocking
// back-refs remain, and cascading to the children the server itself created
// (a network's primary routing instance).
func (s *Server) deleteObject(ctx context.Context, typ, id string) error {
	_, err := s.retry(ctx, func() (*txn, error) {
		return s.prepareFresh(ctx, func() (*txn, error) {
			t := &txn{}
			return t, s.prepareDelete(t, typ, id)
		})
	})
	if err == nil {
		s.m.objectOps.WithLabelValues(typ, "delete").Inc()
	}
	return err
}

// cascades reports whether child is deleted together with its parent.
// Access-control-lists are derived children (the schema transformer makes
// them from a network's policies or a group's rules): the original's delete
// ignores derived children and leaves them to the transformer; here they go
// with their parent in the same transaction, so none is left orphaned.
func cascades(child *model.Object) bool {
	if child.Type == "access-control-list" {
		return true
	}
	if child.Type == "routing-instance" && child.ParentType == "virtual-network" {
		var def bool
		child.Prop("routing_instance_is_default", &def)
		return def
	}
	return false
}

func (s *Server) prepareDelete(t *txn, typ, id string) error {
	n := s.cache.Get(id)
	if n == nil || n.Obj.Type != typ {
		return errMiss{notFound("uuid", "%s %s not found", typ, id)}
	}
	var blocking []string
	var cascade []*node
	for cu, ct := range n.Children {
		c := s.cache.Get(cu)
		if c != nil && cascades(c.Obj) {
			cascade = append(cascade, c)
			continue
		}
		blocking = append(blocking, ct+":"+cu)
	}
	if len(blocking) > 0 {
		sort.Strings(blocking)
		return conflict("", "Delete when children still present: %v", blocking)
	}
	patched := map[string]*model.Object{}
	if err := s.checkBackRefs(n, nil, patched); err != nil {
		return err
	}
	for _, c := range cascade {
		if len(c.Children) > 0 {
			return conflict("", "Delete when children still present: %s %s has children", c.Obj.Type, c.Obj.FQNameString())
		}
		// Connections from other routing instances to a cascading one are
		// dropped with it.
		if err := s.checkBackRefs(c, map[string]bool{"routing-instance": true}, patched); err != nil {
			return err
		}
	}
	for _, c := range cascade {
		// Its referrers from other routing instances are patched in this
		// same transaction, so the back-ref prefix cannot be guarded empty.
		s.emitDelete(t, c, false)
		// Guard: nothing new under the cascaded child.
		t.mustBeEmpty(s.keys.Children(c.Obj.UUID), conflict("", "Delete when children still present"))
	}
	s.emitDelete(t, n, true)
	// Addresses that /ip-alloc took from the subnets of a network or a
	// flat-subnet IPAM are held by no object: they go with the subnets, as
	// the original drops its subnet allocators. (Objects holding addresses
	// refer to the network, which refers to the IPAM, so they block the
	// delete; a subnet uuid belongs to one network or IPAM only.)
	var own []*ipam.Subnet
	switch n.Obj.Type {
	case "virtual-network":
		own = vnOwnSubnets(n.Obj)
	case "network-ipam":
		own = ipamOwnSubnets(n.Obj)
	}
	for _, sn := range own {
		t.delPrefix(s.keys.IPs(sn.UUID))
	}
	// The cascaded children's index entries are deleted above; any other
	// child created meanwhile makes the transaction fail.
	for _, ct := range s.childTypes(n.Obj.Type) {
		keep := false
		for _, c := range cascade {
			if c.Obj.Type == ct {
				keep = true
			}
		}
		if !keep {
			t.mustBeEmpty(s.keys.ChildrenOf(n.Obj.UUID, ct), conflict("", "Delete when children still present"))
		}
	}
	for uuid, o := range patched {
		pn := s.cache.Get(uuid)
		if err := s.emitUpdate(t, pn, o); err != nil {
			return err
		}
	}
	return nil
}

// checkBackRefs refuses to delete n while a non-relaxed reference points at
// it, unless the referrer's type is in drop: then the reference is removed
// from the referrer (collected in patched). Relaxed references are always
// removed from their referrers.
func (s *Server) checkBackRefs(n *node, drop map[string]bool, patched map[string]*model.Object) error {
	var blocking []string
	for fu, ft := range n.BackRefs {
		f := s.cache.Get(fu)
		if f == nil {
			continue
		}
		relaxed := true
		for _, list := range f.Obj.Refs {
			for _, r := range list {
				if r.UUID == n.Obj.UUID && !r.Relaxed {
					relaxed = false
				}
			}
		}
		if !relaxed && !drop[ft] {
			blocking = append(blocking, fmt.Sprintf("%s:%s", ft, fu))
			continue
		}
		o := patched[fu]
		if o == nil {
			o = f.Obj.Clone()
			patched[fu] = o
		}
		for field, list := range o.Refs {
			kept := list[:0]
			for _, r := range list {
				if r.UUID != n.Obj.UUID {
					kept = append(kept, r)
				}
			}
			if len(kept) == 0 {
				delete(o.Refs, field)
			} else {
				o.Refs[field] = kept
			}
		}
	}
	if len(blocking) > 0 {
		sort.Strings(blocking)
		return conflict("", "Delete when resource still referred: %v", blocking)
	}
	return nil
}

// emitDelete removes an object and every index entry it owns.
func (s *Server) emitDelete(t *txn, n *node, guardBackRefs bool) {
	k := s.keys
	o := n.Obj
	t.mustBeUnchanged(k.Object(o.Type, o.UUID), n.ModRev, notFound("uuid", "%s %s not found", o.Type, o.UUID))
	t.delObject(k.Object(o.Type, o.UUID))
	t.del(k.FQName(o.Type, o.FQName))
	t.del(k.UUID(o.UUID))
	if o.ParentUUID != "" {
		t.del(k.Child(o.ParentUUID, o.Type, o.UUID))
		if o.ParentType == "project" {
			t.put(k.Seq(o.ParentUUID, o.Type), "")
		}
	}
	for _, list := range o.Refs {
		for _, r := range list {
			if r.Relaxed {
				t.del(k.RelaxedRef(r.UUID, o.Type, o.UUID))
			} else {
				t.del(k.BackRef(r.UUID, o.Type, o.UUID))
			}
		}
	}
	for _, key := range s.allocationKeys(s.cache, o) {
		t.del(key)
	}
	// Blocking refs created meanwhile by another server make this fail;
	// relaxed ones are patched out of their referrers above.
	if guardBackRefs {
		t.mustBeEmpty(k.BackRefs(o.UUID), conflict("", "Delete when resource still referred"))
	}
	t.delPrefix(k.RelaxedRefs(o.UUID))
}
