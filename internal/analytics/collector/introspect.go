// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"errors"
	"net/http"

	"github.com/contrail-go/contrail/internal/analytics/uve"
	"github.com/contrail-go/contrail/internal/obs"
)

// RegisterIntrospect adds the collector's pages to its introspect server:
// the generator sessions, the totals, and the UVE cache as a uve.Source
// (uve.PathTypes, uve.PathKeys, uve.PathGet, and the change stream
// uve.PathWatch) that uve.NewRemote reads.
func (c *Collector) RegisterIntrospect(in *obs.Introspect) {
	in.Handle("/Snh_ShowCollectorServerReq", "collector: generator sessions and totals", func(*http.Request) (any, error) {
		return struct {
			Stats      Stats         `json:"stats"`
			Generators []SessionInfo `json:"generators"`
		}{c.Stats(), c.Sessions()}, nil
	})
	uve.RegisterPages(in, c.cache, obs.ErrBadRequest)
	in.AddReadyCheck("sandesh-listener", func(context.Context) error {
		if c.Addr() == nil {
			return errors.New("not listening")
		}
		return nil
	})
}
