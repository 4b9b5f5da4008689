// SPDX-License-Identifier: Apache-2.0

package store

import (
	"context"
	"fmt"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/contrail-go/contrail/internal/model"
)

// Check reads the whole store at one revision and reports every index entry
// that does not match an object and every object whose index entries are
// missing: the invariant that one-transaction writes keep. An empty result
// means the store is consistent.
func (s *Store) Check(ctx context.Context) ([]string, error) {
	resp, err := s.Client.Get(ctx, s.Keys.Prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("store: check: %w", err)
	}
	p := s.Keys.Prefix
	objs := map[string]*model.Object{}
	kv := map[string]string{}
	for _, e := range resp.Kvs {
		k := string(e.Key)
		kv[k] = string(e.Value)
		if strings.HasPrefix(k, p+"obj/") {
			o, err := DecodeObject(e.Key, e.Value)
			if err != nil {
				return []string{err.Error()}, nil
			}
			objs[o.UUID] = o
		}
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	exists := func(uuid, typ string) bool {
		o := objs[uuid]
		return o != nil && (typ == "" || o.Type == typ)
	}
	for k, v := range kv {
		rest := strings.TrimPrefix(k, p)
		kind, tail, _ := strings.Cut(rest, "/")
		parts := strings.Split(tail, "/")
		switch kind {
		case "obj":
			if len(parts) != 2 || objs[parts[1]] == nil || objs[parts[1]].Type != parts[0] {
				bad("object key %s does not match its value", k)
			}
		case "fq":
			o := objs[v]
			if o == nil || s.Keys.FQName(o.Type, o.FQName) != k {
				bad("fq-name index %s -> %s has no matching object", k, v)
			}
		case "uuid":
			if !exists(parts[0], v) {
				bad("uuid index %s -> %s has no object", k, v)
			}
		case "ref", "relaxed":
			if len(parts) != 3 {
				bad("malformed %s key %s", kind, k)
				continue
			}
			from := objs[parts[2]]
			found := false
			if from != nil {
				for _, list := range from.Refs {
					for _, r := range list {
						if r.UUID == parts[0] && r.Relaxed == (kind == "relaxed") {
							found = true
						}
					}
				}
			}
			if !found {
				bad("back-ref index %s has no matching ref", k)
			}
			if !exists(parts[0], "") && kind == "ref" {
				bad("back-ref index %s points at a missing object", k)
			}
		case "child":
			if len(parts) != 3 || !exists(parts[0], "") || !exists(parts[2], parts[1]) || objs[parts[2]].ParentUUID != parts[0] {
				bad("child index %s has no matching parent and child", k)
			}
		case "id", "ip":
			owner := v
			if strings.HasPrefix(owner, "ip-alloc:") {
				owner = strings.TrimPrefix(owner, "ip-alloc:")
			}
			if !exists(owner, "") {
				bad("allocation %s is held by missing object %s", k, v)
			}
		}
	}
	for u, o := range objs {
		if kv[s.Keys.FQName(o.Type, o.FQName)] != u {
			bad("object %s %s has no fq-name index", o.Type, u)
		}
		if kv[s.Keys.UUID(u)] != o.Type {
			bad("object %s %s has no uuid index", o.Type, u)
		}
		if o.ParentUUID != "" {
			if !exists(o.ParentUUID, o.ParentType) {
				bad("object %s %s has missing parent %s", o.Type, u, o.ParentUUID)
			}
			if _, ok := kv[s.Keys.Child(o.ParentUUID, o.Type, u)]; !ok {
				bad("object %s %s has no child index under %s", o.Type, u, o.ParentUUID)
			}
		}
		for _, list := range o.Refs {
			for _, r := range list {
				key := s.Keys.BackRef(r.UUID, o.Type, u)
				if r.Relaxed {
					key = s.Keys.RelaxedRef(r.UUID, o.Type, u)
				}
				if _, ok := kv[key]; !ok {
					bad("ref %s -> %s has no back-ref index", u, r.UUID)
				}
				if !exists(r.UUID, "") {
					bad("ref %s -> %s points at a missing object", u, r.UUID)
				}
			}
		}
	}
	sort.Strings(problems)
	return problems, nil
}
