// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"context"
	"errors"
)

// staleable reports whether err may come from a cache that lags the store:
// a lookup that missed (errMiss), or a refusal decided from the cache's
// state (a name, uuid or address taken, children or references present).
// Such answers are given only after the cache has caught up with the store,
// so that a client that writes through one API server and then through
// another sees its first write.
func staleable(err error) bool {
	var miss errMiss
	return errors.As(err, &miss) || errors.Is(err, ErrConflict)
}

// definite turns an errMiss into the error it stands for.
func definite(err error) error {
	var miss errMiss
	if errors.As(err, &miss) {
		return miss.err
	}
	return err
}

// withFresh runs fn under the cache read lock. When fn's answer may be
// stale (see staleable), the cache is brought up to date and fn runs again.
func (s *Server) withFresh(ctx context.Context, fn func() error) error {
	level := 0
	for {
		s.cache.RLock()
		err := fn()
		s.cache.RUnlock()
		if err == nil || !staleable(err) {
			return err
		}
		more, rerr := s.refresh(ctx, &level)
		if rerr != nil {
			return rerr
		}
		if !more {
			return definite(err)
		}
	}
}

// retryFresh is retry for a write that prepare builds under the cache read
// lock, with withFresh's handling of answers that may be stale.
func (s *Server) retryFresh(ctx context.Context, prepare func() (*txn, error)) (*txn, error) {
	return s.retry(ctx, func() (*txn, error) {
		var t *txn
		err := s.withFresh(ctx, func() error {
			var err error
			t, err = prepare()
			return err
		})
		return t, err
	})
}
