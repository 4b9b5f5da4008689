// SPDX-License-Identifier: Apache-2.0

package services

import (
	"github.com/prometheus/client_golang/prometheus"
)

// collector reads the services' counters when scraped.
type collector struct {
	dhcp *DHCP
	meta *Metadata
	dns  *DNS

	dhcpPackets, dhcpReplies, dhcpErrors, dhcpPorts *prometheus.Desc
	metaRequests, dnsQueries                        *prometheus.Desc
}

// NewCollector returns a Prometheus collector of the counters of the given
// services; any of them may be nil. Metrics (namespace ns, e.g.
// "contrail_vrouter_agent"):
//
//	<ns>_dhcp_packets_total{kind}     received, malformed, foreign_mac, ignored, discover, request, inform, release, decline
//	<ns>_dhcp_replies_total{type}     offer, ack, nak
//	<ns>_dhcp_errors_total{op}        send, receive
//	<ns>_dhcp_ports                   ports being served
//	<ns>_metadata_requests_total{result}  forwarded, rejected, upstream_error (and all: the sum of every request)
//	<ns>_dns_queries_total{result}    local, forwarded, failed, rejected (and all)
func NewCollector(ns string, d *DHCP, m *Metadata, dn *DNS) prometheus.Collector {
	return &collector{
		dhcp: d, meta: m, dns: dn,
		dhcpPackets:  prometheus.NewDesc(prometheus.BuildFQName(ns, "dhcp", "packets_total"), "DHCP frames received on VM ports, by kind", []string{"kind"}, nil),
		dhcpReplies:  prometheus.NewDesc(prometheus.BuildFQName(ns, "dhcp", "replies_total"), "DHCP replies sent to VMs, by message type", []string{"type"}, nil),
		dhcpErrors:   prometheus.NewDesc(prometheus.BuildFQName(ns, "dhcp", "errors_total"), "DHCP socket errors", []string{"op"}, nil),
		dhcpPorts:    prometheus.NewDesc(prometheus.BuildFQName(ns, "dhcp", "ports"), "ports the DHCP server serves", nil, nil),
		metaRequests: prometheus.NewDesc(prometheus.BuildFQName(ns, "metadata", "requests_total"), "metadata requests from VMs, by result", []string{"result"}, nil),
		dnsQueries:   prometheus.NewDesc(prometheus.BuildFQName(ns, "dns", "queries_total"), "DNS queries from VMs, by result", []string{"result"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.dhcpPackets, c.dhcpReplies, c.dhcpErrors, c.dhcpPorts, c.metaRequests, c.dnsQueries} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, label string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), label)
	}
	if c.dhcp != nil {
		s := c.dhcp.Stats()
		for _, kv := range []struct {
			k string
			v uint64
		}{{"received", s.Received}, {"malformed", s.Malformed}, {"foreign_mac", s.ForeignMAC}, {"ignored", s.Ignored},
			{"discover", s.Discovers}, {"request", s.Requests}, {"inform", s.Informs}, {"release", s.Releases}, {"decline", s.Declines}} {
			counter(c.dhcpPackets, kv.v, kv.k)
		}
		counter(c.dhcpReplies, s.Offers, "offer")
		counter(c.dhcpReplies, s.Acks, "ack")
		counter(c.dhcpReplies, s.Naks, "nak")
		counter(c.dhcpErrors, s.SendErrors, "send")
		counter(c.dhcpErrors, s.RecvErrors, "receive")
		ch <- prometheus.MustNewConstMetric(c.dhcpPorts, prometheus.GaugeValue, float64(len(c.dhcp.Ports())))
	}
	if c.meta != nil {
		s := c.meta.Stats()
		counter(c.metaRequests, s.Requests, "all")
		counter(c.metaRequests, s.Forwarded, "forwarded")
		counter(c.metaRequests, s.Rejected, "rejected")
		counter(c.metaRequests, s.UpstreamErrors, "upstream_error")
	}
	if c.dns != nil {
		s := c.dns.Stats()
		counter(c.dnsQueries, s.Queries, "all")
		counter(c.dnsQueries, s.Local, "local")
		counter(c.dnsQueries, s.Forwarded, "forwarded")
		counter(c.dnsQueries, s.Failed, "failed")
		counter(c.dnsQueries, s.Rejected, "rejected")
	}
}
