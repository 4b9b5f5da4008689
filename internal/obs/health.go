// SPDX-License-Identifier: Apache-2.0

package obs

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// namedCheck is one health or readiness check.
type namedCheck struct {
	name string
	fn   func(ctx context.Context) error
}

// AddCheck adds a liveness check served by /healthz. fn returns nil when the
// daemon is healthy; it must honour ctx, which carries the check timeout.
// Checks run concurrently on every request, so fn must be cheap and safe for
// concurrent use. A duplicate name panics.
func (i *Introspect) AddCheck(name string, fn func(ctx context.Context) error) {
	i.addCheck(&i.live, "healthz", name, fn)
}

// AddReadyCheck adds a readiness check served by /readyz (for example "has
// synced the config from etcd"); see AddCheck.
func (i *Introspect) AddReadyCheck(name string, fn func(ctx context.Context) error) {
	i.addCheck(&i.ready, "readyz", name, fn)
}

func (i *Introspect) addCheck(list *[]namedCheck, kind, name string, fn func(ctx context.Context) error) {
	if name == "" || strings.ContainsAny(name, "\r\n") || fn == nil {
		panic(fmt.Sprintf("obs: invalid %s check %q", kind, name))
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, c := range *list {
		if c.name == name {
			panic(fmt.Sprintf("obs: duplicate %s check %q", kind, name))
		}
	}
	*list = append(*list, namedCheck{name: name, fn: fn})
}

func (i *Introspect) checks(list *[]namedCheck) []namedCheck {
	i.mu.Lock()
	defer i.mu.Unlock()
	return slices.Clone(*list)
}

// runCheck runs one check, turning a panic into an error so that a buggy
// check fails the probe instead of the process.
func runCheck(ctx context.Context, c namedCheck) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return c.fn(ctx)
}

// serveChecks runs checks concurrently and writes the text report used by
// Kubernetes-style probes: "ok" when every check passes, otherwise 503 and a
// "[-]name failed: reason" line per failing check; ?verbose lists every
// check with "[+]name ok" too.
func (i *Introspect) serveChecks(w http.ResponseWriter, r *http.Request, kind string, checks []namedCheck) {
	ctx, cancel := context.WithTimeout(r.Context(), i.checkTimeout)
	defer cancel()

	type result struct {
		idx int
		err error
	}
	// Buffered so that a check that ignores ctx can finish later without
	// blocking; the report does not wait for it past the timeout.
	results := make(chan result, len(checks))
	for n, c := range checks {
		go func() { results <- result{n, runCheck(ctx, c)} }()
	}
	errs := make([]error, len(checks))
	finished := make([]bool, len(checks))
wait:
	for range checks {
		select {
		case res := <-results:
			errs[res.idx], finished[res.idx] = res.err, true
		case <-ctx.Done():
			break wait
		}
	}
	failed := false
	for n := range checks {
		if !finished[n] {
			errs[n] = fmt.Errorf("check did not finish: %w", ctx.Err())
		}
		if errs[n] != nil {
			failed = true
		}
	}

	_, verbose := r.URL.Query()["verbose"]
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if !failed && !verbose {
		_, _ = w.Write([]byte("ok\n"))
		return
	}
	var sb strings.Builder
	for n, c := range checks {
		if errs[n] != nil {
			reason := strings.NewReplacer("\r", " ", "\n", " ").Replace(errs[n].Error())
			fmt.Fprintf(&sb, "[-]%s failed: %s\n", c.name, reason)
			i.log.Debug(kind+" check failed", "check", c.name, KeyErr, errs[n])
		} else if verbose {
			fmt.Fprintf(&sb, "[+]%s ok\n", c.name)
		}
	}
	if failed {
		fmt.Fprintf(&sb, "%s check failed\n", kind)
		w.WriteHeader(http.StatusServiceUnavailable)
	} else {
		fmt.Fprintf(&sb, "%s check passed\n", kind)
	}
	_, _ = w.Write([]byte(sb.String()))
}
