// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"context"
	"encoding/json"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/contrail-go/contrail/internal/schema"
)

// quotaCheck is a per-project limit that a create must respect.
type quotaCheck struct {
	project string
	typ     string
	limit   int64
}

// quotaNeeded returns the project quota that applies to the object being
// created, if the project sets one for its type (the original's
// project.quota map, where -1 or absent means unlimited). Callers hold the
// cache read lock.
func (c *createOp) quotaNeeded() *quotaCheck {
	if c.parent == nil || c.parent.Obj.Type != "project" {
		return nil
	}
	raw, ok := c.parent.Obj.Props["quota"]
	if !ok {
		return nil
	}
	var q map[string]json.Number
	if err := json.Unmarshal(raw, &q); err != nil {
		return nil
	}
	v, ok := q[schema.JSON(c.o.Type)]
	if !ok {
		return nil
	}
	limit, err := v.Int64()
	if err != nil || limit < 0 {
		return nil
	}
	return &quotaCheck{project: c.parent.Obj.UUID, typ: c.o.Type, limit: limit}
}

// checkQuota counts the project's objects of the type in the store and
// guards the count with the project's per-type sequence key, which every
// create and delete of that type under the project rewrites. So two servers
// racing for the last slot cannot both win.
func (s *Server) checkQuota(ctx context.Context, t *txn, q *quotaCheck) error {
	seqKey := s.keys.Seq(q.project, q.typ)
	resp, err := s.st.Client.Txn(ctx).Then(
		clientv3.OpGet(seqKey),
		clientv3.OpGet(s.keys.ChildrenOf(q.project, q.typ), clientv3.WithPrefix(), clientv3.WithCountOnly()),
	).Commit()
	if err != nil {
		return apiErr(ErrUnavailable, "", "store: %v", err)
	}
	var seqRev int64
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
		seqRev = kvs[0].ModRevision
	}
	count := resp.Responses[1].GetResponseRange().Count
	if count >= q.limit {
		return apiErr(ErrQuota, "quota", "quota exceeded for %s in project %s: limit %d, in use %d", q.typ, q.project, q.limit, count)
	}
	if seqRev == 0 {
		t.mustBeAbsent(seqKey, nil)
	} else {
		t.mustBeUnchanged(seqKey, seqRev, nil)
	}
	return nil
}
