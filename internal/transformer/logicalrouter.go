// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"context"
	"errors"

	"github.com/contrail-go/contrail/pkg/client"
)

// reconcileRouter gives a logical router its own system route target
// (route_target_refs, as the original's logical_router.py). The networks
// attached to the router add that target to their routing instances
// (planNetwork), reading the router, so they follow its changes.
func (tm *term) reconcileRouter(ctx context.Context, r *rec, uuid string) (result, error) {
	t := tm.t
	t.g.RLock()
	v := newView(t.g)
	lr := v.get(uuid)
	if lr == nil {
		t.g.RUnlock()
		tm.q.addSoon(gcKey, gcDelay)
		return result{gone: true}, nil
	}
	asn, err := globalASN(v)
	if err != nil {
		t.deps.set(r.key, v)
		t.g.RUnlock()
		return result{}, err
	}
	own, _ := t.ownSystemRT(v, v.refs(lr, "route_target_refs"), refDirs(lr.Obj), asn, nil)
	var problems []string
	t.userTargets(lr.Obj, "configured_route_target_list", rtBoth, asn, map[string]int{}, &problems)
	obj := lr.Obj
	cur := map[string]bool{}
	for _, ref := range obj.Refs["route_target_refs"] {
		cur[ref.UUID] = true
	}
	ownUUID, _ := t.g.LookupFQString("route-target", own)
	t.deps.set(r.key, v)
	t.g.RUnlock()

	if own == "" {
		name, err := tm.ownRT(ctx, r, asn, "logical-router "+obj.FQNameString())
		switch {
		case errors.Is(err, ErrExhausted):
			// Try again when a route target goes away.
			t.deps.addType(r.key, "route-target")
			problems = append(problems, "no route target: "+err.Error())
		case err != nil:
			return result{}, err
		default:
			own = name
		}
	}
	if own != "" && (len(cur) != 1 || !cur[ownUUID]) {
		err := r.update(ctx, "logical-router", obj.UUID, client.Object{
			"route_target_refs": []any{map[string]any{"to": []string{own}}},
		})
		if err != nil {
			return result{}, err
		}
	}
	tm.referred(r.key)
	tm.noteProblems(r, obj, problems)
	return result{}, r.syncError(ctx, obj, errorText(problems))
}
