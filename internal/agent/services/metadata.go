// SPDX-License-Identifier: Apache-2.0

package services

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/contrail-go/contrail/internal/agent/services/internal/nsutil"
)

// MetadataAddr is the address VMs send metadata requests to, on port 80.
var MetadataAddr = netip.MustParseAddrPort("169.254.169.254:80")

// Conntrack zones of metadata connections: port n (from 1) uses
// MetadataZoneBase+n, so zones MetadataZoneBase+1 .. +MetadataMaxPorts are
// reserved for this package.
const (
	MetadataZoneBase = 0xC000
	MetadataMaxPorts = 0x3FFF
	// MetadataTable is the nftables table (family ip) the proxy owns.
	MetadataTable = "contrail_metadata"
)

// Headers the proxy sets towards the metadata server; the same headers
// coming from a VM are dropped.
const (
	HeaderInstanceID = "X-Instance-ID"
	HeaderSignature  = "X-Instance-ID-Signature"
	HeaderTenantID   = "X-Tenant-ID"
	HeaderForwarded  = "X-Forwarded-For"
	HeaderVMIID      = "X-VMI-ID"
)

// MetadataConfig configures the metadata proxy.
type MetadataConfig struct {
	// Listen is where the per-port listeners bind. Its address must be
	// local to the host (the VM traffic is DNATed to it), or unspecified
	// (0.0.0.0) to redirect to the address of the port the traffic arrives
	// on. Its port must not be 0.
	Listen netip.AddrPort
	// Upstream is the metadata server base URL (nova: http://<host>:8775).
	Upstream string
	// Secret keys X-Instance-ID-Signature (nova's metadata_proxy_shared_secret).
	Secret string
	// Log receives the proxy's messages; nil discards.
	Log *slog.Logger
	// Timeout bounds one upstream request; 0 means 30 s.
	Timeout time.Duration
}

// MetadataStats counts the proxy's requests.
type MetadataStats struct {
	Requests       uint64 // HTTP requests from VMs
	Forwarded      uint64 // requests answered by the metadata server (any status)
	Rejected       uint64 // unknown port or source address not the port's VM
	UpstreamErrors uint64 // metadata server unreachable or timed out (502 to the VM)
}

// Metadata is the metadata proxy.
type Metadata struct {
	cfg       MetadataConfig
	log       *slog.Logger
	ns        *nsutil.NS
	upstream  *url.URL
	proxy     *httputil.ReverseProxy
	transport *http.Transport
	srv       *http.Server
	nft       *interceptNFT

	mu     sync.Mutex
	ports  map[string]*metaPort
	zones  map[uint16]bool
	closed bool
	stop   chan struct{} // closed by Close: stops the interface watch
	wdone  chan struct{}

	requests, forwarded, rejected, upErrors atomic.Uint64
}

type metaPort struct {
	name, vmi, vm, tenant string
	ip                    netip.Addr
	zone                  uint16
	ln                    net.Listener
	ifindex               int // of the interface ln is bound to
}

type portKey struct{}

// NewMetadata starts a proxy with no ports. Its sockets and nftables table
// live in the network namespace of the calling thread. The table is
// created (empty) here and replaced whenever ports change.
func NewMetadata(cfg MetadataConfig) (*Metadata, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if !cfg.Listen.Addr().Is4() || cfg.Listen.Port() == 0 {
		return nil, fmt.Errorf("services: metadata: listen address %v is not IPv4 with a port", cfg.Listen)
	}
	u, err := url.Parse(cfg.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("services: metadata: upstream %q is not an http(s) URL", cfg.Upstream)
	}
	ns, err := nsutil.Current()
	if err != nil {
		return nil, fmt.Errorf("services: metadata: %w", err)
	}
	m := &Metadata{
		cfg:      cfg,
		log:      cfg.Log.With("component", "metadata"),
		ns:       ns,
		upstream: u,
		ports:    map[string]*metaPort{},
		zones:    map[uint16]bool{},
		stop:     make(chan struct{}),
		wdone:    make(chan struct{}),
		nft:      &interceptNFT{ns: ns, table: MetadataTable, listen: cfg.Listen, protos: []byte{unix.IPPROTO_TCP}},
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		// Upstream connections are opened in the proxy's namespace, whatever
		// thread runs the request.
		DialContext: func(ctx context.Context, network, address string) (c net.Conn, err error) {
			err = ns.Do(func() error {
				c, err = dialer.DialContext(ctx, network, address)
				return err
			})
			return c, err
		},
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
	}
	m.transport = transport
	m.proxy = &httputil.ReverseProxy{
		Rewrite:      m.rewrite,
		Transport:    transport,
		ErrorHandler: m.upstreamError,
		ModifyResponse: func(*http.Response) error {
			m.forwarded.Add(1)
			return nil
		},
	}
	m.srv = &http.Server{
		Handler:           http.HandlerFunc(m.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if pc, ok := c.(*portConn); ok {
				return context.WithValue(ctx, portKey{}, pc.port)
			}
			return ctx
		},
		ErrorLog: slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
	}
	if err := m.nft.apply(nil); err != nil {
		ns.Close()
		return nil, err
	}
	every := watchInterval
	go func() {
		defer close(m.wdone)
		watchLoop(m.stop, every, m.rebindMoved)
	}()
	return m, nil
}

// rebindMoved gives a new listener to every port whose interface was
// recreated under the same name since its listener was bound.
func (m *Metadata) rebindMoved() {
	idx := ifindexes(m.ns)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || idx == nil {
		return
	}
	for name, p := range m.ports {
		cur, ok := idx[name]
		if !ok || cur == p.ifindex {
			continue
		}
		ln, ifindex, err := listenTCPOn(m.ns, name, m.cfg.Listen.String())
		if err != nil {
			m.log.Warn("rebinding a recreated port failed", "port", name, "err", err)
			continue
		}
		p.ln.Close()
		np := *p
		np.ln, np.ifindex = ln, ifindex
		m.ports[name] = &np
		go func() { _ = m.srv.Serve(&portListener{Listener: ln, port: name}) }()
		m.log.Info("port interface recreated; listener rebound", "port", name, "ifindex", ifindex)
	}
}

// SetPort starts or updates the proxy for the VM behind port name. The
// interface must exist. Calling it again with the same values changes
// nothing.
func (m *Metadata) SetPort(name, vmiUUID, vmUUID, tenantUUID string, vmIP netip.Addr) error {
	if name == "" || len(name) >= unix.IFNAMSIZ {
		return fmt.Errorf("services: metadata: bad port name %q", name)
	}
	if !vmIP.Is4() {
		return fmt.Errorf("services: metadata: port %s: VM address %v is not IPv4", name, vmIP)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if old, ok := m.ports[name]; ok {
		np := *old
		np.vmi, np.vm, np.tenant, np.ip = vmiUUID, vmUUID, tenantUUID, vmIP
		m.ports[name] = &np
		return nil
	}
	zone, ok := m.freeZoneLocked()
	if !ok {
		return fmt.Errorf("services: metadata: more than %d ports", MetadataMaxPorts)
	}
	p := &metaPort{name: name, vmi: vmiUUID, vm: vmUUID, tenant: tenantUUID, ip: vmIP, zone: zone}
	var err error
	p.ln, p.ifindex, err = listenTCPOn(m.ns, name, m.cfg.Listen.String())
	if err != nil {
		return fmt.Errorf("services: metadata: port %s: listen: %w", name, err)
	}
	if err := m.nft.apply(m.interceptsLocked(p)); err != nil {
		p.ln.Close()
		return err
	}
	m.ports[name] = p
	m.zones[zone] = true
	go func() { _ = m.srv.Serve(&portListener{Listener: p.ln, port: name}) }()
	m.log.Info("metadata proxy on port", "port", name, "vm", vmUUID, "ip", vmIP.String(), "zone", zone)
	return nil
}

func (m *Metadata) freeZoneLocked() (uint16, bool) {
	for z := uint16(MetadataZoneBase + 1); z <= MetadataZoneBase+MetadataMaxPorts; z++ {
		if !m.zones[z] {
			return z, true
		}
	}
	return 0, false
}

func (m *Metadata) interceptsLocked(extra ...*metaPort) []intercept {
	out := make([]intercept, 0, len(m.ports)+len(extra))
	for _, p := range m.ports {
		out = append(out, intercept{port: p.name, zone: p.zone, daddr: MetadataAddr.Addr(), dport: MetadataAddr.Port()})
	}
	for _, p := range extra {
		out = append(out, intercept{port: p.name, zone: p.zone, daddr: MetadataAddr.Addr(), dport: MetadataAddr.Port()})
	}
	return out
}

// RemovePort stops the proxy for port name; unknown names are ignored.
// Connections in progress are served to the end.
func (m *Metadata) RemovePort(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.ports[name]
	if !ok || m.closed {
		return
	}
	delete(m.ports, name)
	delete(m.zones, p.zone)
	p.ln.Close()
	if err := m.nft.apply(m.interceptsLocked()); err != nil {
		m.log.Warn("nftables update failed", "err", err)
	}
}

// Stats returns the request counters.
func (m *Metadata) Stats() MetadataStats {
	return MetadataStats{Requests: m.requests.Load(), Forwarded: m.forwarded.Load(),
		Rejected: m.rejected.Load(), UpstreamErrors: m.upErrors.Load()}
}

// Close deletes the nftables table, then closes the listeners and every
// connection.
func (m *Metadata) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.ports = nil
	m.mu.Unlock()
	close(m.stop)
	<-m.wdone
	err := m.nft.remove()
	if cerr := m.srv.Close(); err == nil {
		err = cerr
	}
	m.transport.CloseIdleConnections()
	m.ns.Close()
	return err
}

func (m *Metadata) port(r *http.Request) (*metaPort, bool) {
	name, _ := r.Context().Value(portKey{}).(string)
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.ports[name]
	return p, ok
}

func (m *Metadata) serveHTTP(w http.ResponseWriter, r *http.Request) {
	m.requests.Add(1)
	p, ok := m.port(r)
	src, err := netip.ParseAddrPort(r.RemoteAddr)
	if !ok || err != nil || src.Addr().Unmap() != p.ip {
		m.rejected.Add(1)
		m.log.Warn("metadata request refused", "remote", r.RemoteAddr, "known_port", ok)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), metaPortKey{}, p))
	m.proxy.ServeHTTP(w, r)
}

type metaPortKey struct{}

// Signature is nova's X-Instance-ID-Signature: hex HMAC-SHA256 of the
// instance id keyed by the shared secret.
func Signature(secret, instanceID string) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(instanceID))
	return hex.EncodeToString(h.Sum(nil))
}

func (m *Metadata) rewrite(pr *httputil.ProxyRequest) {
	p := pr.In.Context().Value(metaPortKey{}).(*metaPort)
	pr.SetURL(m.upstream)
	h := pr.Out.Header
	for _, k := range []string{HeaderInstanceID, HeaderSignature, HeaderTenantID, HeaderForwarded, HeaderVMIID,
		"X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"} {
		h.Del(k)
	}
	h.Set(HeaderInstanceID, p.vm)
	h.Set(HeaderSignature, Signature(m.cfg.Secret, p.vm))
	h.Set(HeaderForwarded, p.ip.String())
	if p.tenant != "" {
		h.Set(HeaderTenantID, p.tenant)
	}
	if p.vmi != "" {
		h.Set(HeaderVMIID, p.vmi)
	}
}

func (m *Metadata) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	m.upErrors.Add(1)
	if !errors.Is(err, context.Canceled) {
		m.log.Warn("metadata server request failed", "err", err)
	}
	w.WriteHeader(http.StatusBadGateway)
}

// portListener tags accepted connections with the port they came in on.
type portListener struct {
	net.Listener
	port string
}

type portConn struct {
	net.Conn
	port string
}

func (l *portListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &portConn{Conn: c, port: l.port}, nil
}
