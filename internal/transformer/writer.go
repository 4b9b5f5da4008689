// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/contrail-go/contrail/internal/apiserver"
	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/pkg/client"
)

// Errors of the transformer.
var (
	// ErrFenced: the API refused a write because this instance's election
	// key is gone; it is no longer the leader.
	ErrFenced = errors.New("transformer: leadership lost (write fenced)")
	// errExists: a create found the fq-name taken.
	errExists = errors.New("transformer: object exists")
	// ErrExhausted: no free number is left in the system route-target range.
	ErrExhausted = errors.New("transformer: route target range exhausted")
)

// terminalError is an error a retry cannot fix (the API rejected what the
// transformer wrote as invalid). The reconcile is not retried; the key
// runs again when something it depends on changes.
type terminalError struct{ err error }

func (e terminalError) Error() string { return e.err.Error() }
func (e terminalError) Unwrap() error { return e.err }

func terminal(err error) error { return terminalError{err} }

func isTerminal(err error) bool {
	var t terminalError
	return errors.As(err, &t)
}

// rec is one run of one reconcile: its key, logger and writes. Every write
// goes through the API with the term's fence.
type rec struct {
	tm     *term
	key    string
	log    *slog.Logger
	writes int
}

// classify turns an API error into the transformer's error kinds.
func classify(op, typ string, err error) error {
	var ae *client.Error
	if !errors.As(err, &ae) {
		return fmt.Errorf("transformer: %s %s: %w", op, typ, err)
	}
	switch {
	case ae.StatusCode == http.StatusPreconditionFailed && ae.Field == apiserver.FenceHeader:
		return fmt.Errorf("%w: %v", ErrFenced, err)
	case ae.StatusCode == http.StatusBadRequest, ae.StatusCode == http.StatusForbidden:
		return terminal(fmt.Errorf("transformer: %s %s: %w", op, typ, err))
	}
	return fmt.Errorf("transformer: %s %s: %w", op, typ, err)
}

func (r *rec) count(op, typ string, err error) {
	res := "ok"
	if err != nil {
		res = "error"
	}
	r.tm.t.m.apiWrites.WithLabelValues(op, typ, res).Inc()
	if err == nil {
		r.writes++
	}
}

// create creates an object; a taken fq-name gives errExists.
func (r *rec) create(ctx context.Context, typ string, body client.Object) (string, error) {
	out, err := r.tm.api.Create(ctx, typ, body)
	r.count("create", typ, err)
	if err != nil {
		if client.IsConflict(err) {
			return "", fmt.Errorf("%w: %s %v", errExists, typ, body["fq_name"])
		}
		return "", classify("create", typ, err)
	}
	r.log.Debug("created", "type", typ, "fq_name", out.FQName(), "uuid", out.UUID())
	return out.UUID(), nil
}

// update changes the given fields of an object.
func (r *rec) update(ctx context.Context, typ, uuid string, body client.Object) error {
	err := r.tm.api.Update(ctx, typ, uuid, body)
	r.count("update", typ, err)
	if err != nil {
		return classify("update", typ, err)
	}
	r.log.Debug("updated", "type", typ, "uuid", uuid, "fields", fieldNames(body))
	return nil
}

// del deletes an object; one that is gone already is success.
func (r *rec) del(ctx context.Context, typ, uuid string) error {
	err := r.tm.api.Delete(ctx, typ, uuid)
	if client.IsNotFound(err) {
		return nil
	}
	r.count("delete", typ, err)
	if err != nil {
		return classify("delete", typ, err)
	}
	r.log.Debug("deleted", "type", typ, "uuid", uuid)
	return nil
}

// refAddRelaxed adds one ref, relaxed for delete, leaving the others.
func (r *rec) refAddRelaxed(ctx context.Context, typ, uuid, refType, refUUID string, attr any) error {
	err := r.tm.api.RefAddRelaxed(ctx, typ, uuid, refType, refUUID, attr)
	r.count("ref-update", typ, err)
	if err != nil {
		return classify("ref-update", typ, err)
	}
	r.log.Debug("ref added", "type", typ, "uuid", uuid, "ref_type", refType, "ref_uuid", refUUID)
	return nil
}

// syncError makes the error annotation of o say msg ("" removes it). It
// changes only that key of the annotations, so a user's own annotations
// and concurrent edits of them are left alone.
func (r *rec) syncError(ctx context.Context, o *model.Object, msg string) error {
	cur, has := annotation(o, ErrorAnnotation)
	if cur == msg && (has || msg == "") {
		return nil
	}
	var up client.PropUpdate
	if msg == "" {
		up = client.PropUpdate{Field: "annotations", Operation: client.PropDelete, Position: ErrorAnnotation}
	} else {
		up = client.PropUpdate{Field: "annotations", Operation: client.PropAdd, Value: keyValuePair{Key: ErrorAnnotation, Value: msg}}
	}
	err := r.tm.api.PropCollectionUpdate(ctx, o.UUID, []client.PropUpdate{up})
	if msg == "" && client.IsNotFound(err) {
		return nil
	}
	r.count("annotate", o.Type, err)
	if err != nil {
		return classify("annotate", o.Type, err)
	}
	return nil
}

// errorText joins the bad-input messages of an object for its annotation.
func errorText(errs []string) string {
	if len(errs) == 0 {
		return ""
	}
	errs = slices.Clone(errs)
	slices.Sort(errs)
	errs = slices.Compact(errs)
	s := strings.Join(errs, "; ")
	if len(s) > 2000 {
		s = s[:2000] + "..."
	}
	return s
}

func fieldNames(o client.Object) []string {
	out := make([]string, 0, len(o))
	for k := range o {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
