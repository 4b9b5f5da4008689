// SPDX-License-Identifier: Apache-2.0

package services

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestCollector(t *testing.T) {
	// Services that were never started; nil services are left out.
	d := &DHCP{ports: map[string]*dhcpPort{}}
	d.removed.Offers = 3
	d.removed.ForeignMAC = 4
	m := &Metadata{}
	m.requests.Store(2)
	m.rejected.Store(1)
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector("x", d, m, nil))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	n := 0
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			n++
			key := mf.GetName()
			for _, lp := range mt.GetLabel() {
				key += "/" + lp.GetValue()
			}
			if c := mt.GetCounter(); c != nil {
				got[key] = c.GetValue()
			} else {
				got[key] = mt.GetGauge().GetValue()
			}
		}
	}
	want := map[string]float64{
		"x_dhcp_replies_total/offer":               3,
		"x_dhcp_replies_total/ack":                 0,
		"x_dhcp_packets_total/foreign_mac":         4,
		"x_dhcp_ports":                             0,
		"x_metadata_requests_total/all":            2,
		"x_metadata_requests_total/rejected":       1,
		"x_metadata_requests_total/forwarded":      0,
		"x_metadata_requests_total/upstream_error": 0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if n != 9+3+2+1+4 {
		t.Errorf("%d metrics, want 19 (no DNS metrics without a DNS proxy)", n)
	}
}
