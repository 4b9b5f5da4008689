// SPDX-License-Identifier: Apache-2.0

package services

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/testutil/nstest"
	"github.com/google/nftables"
)

// fakeNova is a metadata server in the host namespace that records the
// headers of every request and answers with the instance id it was given.
type fakeNova struct {
	url string
	mu  sync.Mutex
	got []http.Header
}

func newFakeNova(t *testing.T, host *nstest.NS) *fakeNova {
	t.Helper()
	f := &fakeNova{}
	var ln net.Listener
	if err := host.In(func() (err error) { ln, err = net.Listen("tcp4", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.got = append(f.got, r.Header.Clone())
		f.mu.Unlock()
		fmt.Fprintf(w, "instance=%s path=%s", r.Header.Get(HeaderInstanceID), r.URL.RequestURI())
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	f.url = "http://" + ln.Addr().String()
	return f
}

func (f *fakeNova) last() http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got) == 0 {
		return nil
	}
	return f.got[len(f.got)-1]
}

// metaVM links a VM namespace to host through tap, gives the VM ip/24 with
// a default route via .1, and the host end the gateway address, as the
// dataplane does.
func metaVM(t *testing.T, host *nstest.NS, name, tap, ip string) *nstest.NS {
	t.Helper()
	vm := nstest.New(t, name)
	veth(t, host, tap, vm, "eth0", nil)
	host.Addr(t, tap, "10.1.1.1/32")
	vm.Addr(t, "eth0", ip+"/24")
	vm.Route(t, "", "10.1.1.1", "eth0", 0)
	return vm
}

// vmDial opens a TCP connection from inside vm to 169.254.169.254:80 from
// local address src (port 0: any).
func vmDial(t *testing.T, vm *nstest.NS, src netip.AddrPort) net.Conn {
	t.Helper()
	var c net.Conn
	err := vm.In(func() (err error) {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: net.TCPAddrFromAddrPort(src)}
		c, err = d.Dial("tcp4", MetadataAddr.String())
		return err
	})
	if err != nil {
		t.Fatalf("%s: connect to the metadata address: %v", vm.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends one HTTP request on c and returns the status and body.
func get(t *testing.T, c net.Conn, path string, hdr map[string]string) (int, string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: 169.254.169.254\r\n", path)
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func newMetadataIn(t *testing.T, host *nstest.NS, cfg MetadataConfig) *Metadata {
	t.Helper()
	var m *Metadata
	if err := host.In(func() (err error) { m, err = NewMetadata(cfg); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestMetadataProxy(t *testing.T) {
	nstest.NeedRoot(t)
	host := nstest.New(t, "host")
	host.Addr(t, "lo", "169.254.169.254/32")
	nova := newFakeNova(t, host)
	// Two tenants, same VM address.
	vmA := metaVM(t, host, "vmA", "tapA", "10.1.1.3")
	vmB := metaVM(t, host, "vmB", "tapB", "10.1.1.3")
	m := newMetadataIn(t, host, MetadataConfig{
		Listen:   netip.MustParseAddrPort("169.254.169.254:8775"),
		Upstream: nova.url + "/",
		Secret:   "s3cret",
	})
	ip := netip.MustParseAddr("10.1.1.3")
	if err := m.SetPort("tapA", "vmi-a", "vm-a", "tenant-red", ip); err != nil {
		t.Fatal(err)
	}
	if err := m.SetPort("tapB", "vmi-b", "vm-b", "", ip); err != nil {
		t.Fatal(err)
	}

	// Both VMs connect from the same address and source port at once:
	// only the per-port conntrack zones keep the connections apart.
	src := netip.MustParseAddrPort("10.1.1.3:40000")
	ca := vmDial(t, vmA, src)
	cb := vmDial(t, vmB, src)
	code, body := get(t, ca, "/openstack/latest/meta_data.json?x=1", map[string]string{
		HeaderInstanceID: "forged", HeaderTenantID: "forged", HeaderForwarded: "1.2.3.4"})
	if code != 200 || body != "instance=vm-a path=/openstack/latest/meta_data.json?x=1" {
		t.Fatalf("VM A got %d %q", code, body)
	}
	h := nova.last()
	want := map[string]string{
		HeaderInstanceID: "vm-a",
		HeaderSignature:  Signature("s3cret", "vm-a"),
		HeaderForwarded:  "10.1.1.3",
		HeaderTenantID:   "tenant-red",
		HeaderVMIID:      "vmi-a",
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("upstream header %s = %q, want %q", k, got, v)
		}
	}
	code, body = get(t, cb, "/latest/meta-data/instance-id", nil)
	if code != 200 || body != "instance=vm-b path=/latest/meta-data/instance-id" {
		t.Fatalf("VM B got %d %q", code, body)
	}
	if h := nova.last(); h.Get(HeaderTenantID) != "" || h.Get(HeaderSignature) != Signature("s3cret", "vm-b") {
		t.Errorf("VM B headers %v", h)
	}
	// Keep-alive: a second request on A's connection is still A's.
	if code, body = get(t, ca, "/x", nil); code != 200 || body != "instance=vm-a path=/x" {
		t.Fatalf("VM A again: %d %q", code, body)
	}

	// A source address that is not the port's VM is refused.
	vmA.Addr(t, "eth0", "10.1.1.77/24")
	if code, _ := get(t, vmDial(t, vmA, netip.MustParseAddrPort("10.1.1.77:0")), "/", nil); code != http.StatusForbidden {
		t.Errorf("foreign source: status %d", code)
	}
	if s := m.Stats(); s.Requests != 4 || s.Forwarded != 3 || s.Rejected != 1 || s.UpstreamErrors != 0 {
		t.Errorf("stats %+v", s)
	}

	// An update changes the identity; removal stops the proxy on the port.
	if err := m.SetPort("tapB", "vmi-b", "vm-b2", "t2", ip); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, vmDial(t, vmB, netip.AddrPort{}), "/", nil); code != 200 || body != "instance=vm-b2 path=/" {
		t.Errorf("after update: %d %q", code, body)
	}
	m.RemovePort("tapB")
	err := vmB.In(func() error {
		c, err := net.DialTimeout("tcp4", MetadataAddr.String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err == nil {
		t.Error("removed port still reaches a listener")
	}

	// Close deletes the table.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(host.NS)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListTableOfFamily(MetadataTable, nftables.TableFamilyIPv4); err == nil {
		t.Error("table left after Close")
	}
}

func TestMetadataRedirectAndUpstreamDown(t *testing.T) {
	nstest.NeedRoot(t)
	host := nstest.New(t, "host")
	vm := metaVM(t, host, "vm", "tap1", "10.1.1.3")
	// Nothing listens upstream: a closed port on the host's loopback.
	m := newMetadataIn(t, host, MetadataConfig{
		Listen:   netip.MustParseAddrPort("0.0.0.0:8097"),
		Upstream: "http://127.0.0.1:9",
		Secret:   "x",
	})
	if err := m.SetPort("tap1", "vmi", "vm", "", netip.MustParseAddr("10.1.1.3")); err != nil {
		t.Fatal(err)
	}
	if err := m.SetPort("tap1", "vmi", "vm", "", netip.MustParseAddr("10.1.1.3")); err != nil {
		t.Fatal(err)
	}
	code, _ := get(t, vmDial(t, vm, netip.AddrPort{}), "/", nil)
	if code != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", code)
	}
	if s := m.Stats(); s.UpstreamErrors != 1 || s.Requests != 1 {
		t.Errorf("stats %+v", s)
	}
	if err := m.SetPort("nosuchdev", "", "", "", netip.MustParseAddr("10.1.1.9")); err == nil {
		t.Error("SetPort on a missing interface succeeded")
	}
}

func TestMetadataConfig(t *testing.T) {
	for _, cfg := range []MetadataConfig{
		{Listen: netip.MustParseAddrPort("0.0.0.0:0"), Upstream: "http://x"},
		{Listen: netip.MustParseAddrPort("[::1]:80"), Upstream: "http://x"},
		{Listen: netip.MustParseAddrPort("127.0.0.1:80"), Upstream: "ftp://x"},
		{Listen: netip.MustParseAddrPort("127.0.0.1:80"), Upstream: "http://"},
	} {
		if _, err := NewMetadata(cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	// Known value: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
	if got := Signature("key", "The quick brown fox jumps over the lazy dog"); got != "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8" {
		t.Errorf("Signature = %s", got)
	}
}
