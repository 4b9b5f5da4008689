// SPDX-License-Identifier: Apache-2.0

package portapi

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
)

// startServer runs a Server on a real loopback listener until the test
// ends and returns its URL.
func startServer(t *testing.T, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func runCtl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := RunPortControl(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestPortControlAgainstServer(t *testing.T) {
	srv := &Server{Store: mustOpen(t, t.TempDir(), nil)}
	dp := newDataplane()
	dp.install(srv)
	url := startServer(t, srv)

	code, _, stderr := runCtl(t,
		"--oper=add", "--uuid="+testVMI, "--instance_uuid="+testVM, "--vn_uuid="+testVN,
		"--vm_project_uuid="+testProj, "--ip_address=10.0.0.3", "--ipv6_address=2001:db8::3",
		"--vm_name=vm1", "--mac=02:AA:BB:CC:DD:EE", "--tap_name=tap11111111-22",
		"--port_type=NovaVMPort", "--tx_vlan_id=-1", "--rx_vlan_id=100", "--agent", url)
	if code != 0 {
		t.Fatalf("add: exit %d: %s", code, stderr)
	}
	p, ok := srv.Store.Get(testVMI)
	want := Port{
		ID: testVMI, InstanceID: testVM, VNID: testVN, VMProjectID: testProj,
		DisplayName: "vm1", IPAddress: "10.0.0.3", IP6Address: "2001:db8::3",
		Type: TypeVM, SystemName: "tap11111111-22", MACAddress: "02:aa:bb:cc:dd:ee",
		RxVLANID: 100, TxVLANID: -1,
	}
	if !ok || p != want {
		t.Errorf("stored %+v\nwant   %+v", p, want)
	}

	// A namespace port, its type given by number, with single-dash
	// flags and a trailing slash on the agent URL.
	code, _, stderr = runCtl(t, "-oper", "add", "-uuid", uuidN(2), "-instance_uuid", testVM,
		"-tap_name", "veth2", "-port_type", "1", "-agent", url+"/")
	if code != 0 {
		t.Fatalf("add namespace port: exit %d: %s", code, stderr)
	}
	if p, _ := srv.Store.Get(uuidN(2)); p.Type != TypeNamespace {
		t.Errorf("port type %d, want namespace", p.Type)
	}

	// As nova calls it: every option in one argument, with the flags
	// that have no port key and Python's None for no IPv6.
	code, _, stderr = runCtl(t, "--oper=add --uuid="+uuidN(4)+" --instance_uuid="+testVM+
		" --vn_uuid="+testVN+" --vm_project_uuid="+testProj+" --ip_address=0.0.0.0 --ipv6_address=None"+
		" --vm_name=vm4 --mac=02:00:00:00:00:04 --tap_name=tap4 --port_type=NovaVMPort"+
		" --vif_type=VhostUser --vhostuser_socket=/var/run/vrouter/uvh_vif_tap4 --tx_vlan_id=-1 --rx_vlan_id=-1"+
		" --agent="+url)
	if code != 0 {
		t.Fatalf("nova-style add: exit %d: %s", code, stderr)
	}
	if p, _ := srv.Store.Get(uuidN(4)); p.IP6Address != "" || p.IPAddress != "0.0.0.0" || p.SystemName != "tap4" {
		t.Errorf("nova-style port stored as %+v", p)
	}

	// The agent refuses: exit 1 with its reason.
	dp.fail("validate", &FieldError{Code: CodeInvalid, Field: FieldSystemName, Message: "no such device"})
	code, _, stderr = runCtl(t, "--oper=add", "--uuid="+uuidN(3), "--instance_uuid="+testVM,
		"--tap_name=tapgone", "--agent="+url)
	if code != 1 || !strings.Contains(stderr, "--tap_name") || !strings.Contains(stderr, "no such device") {
		t.Errorf("refused add: exit %d, stderr %q", code, stderr)
	}

	code, _, stderr = runCtl(t, "--oper=delete", "--uuid="+strings.ToUpper(testVMI), "--agent="+url)
	if code != 0 {
		t.Fatalf("delete: exit %d: %s", code, stderr)
	}
	if _, ok := srv.Store.Get(testVMI); ok {
		t.Error("port still stored after delete")
	}
	code, _, stderr = runCtl(t, "--oper=delete", "--uuid="+testVMI, "--agent="+url)
	if code != 1 || !strings.Contains(stderr, "not_found") {
		t.Errorf("delete unknown: exit %d, stderr %q", code, stderr)
	}
}

func TestPortControlUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no oper", args: []string{"--uuid=" + testVMI}, want: "--oper is required"},
		{name: "bad oper", args: []string{"--oper=list", "--uuid=" + testVMI}, want: "invalid --oper"},
		{name: "no uuid", args: []string{"--oper=delete"}, want: "--uuid is required"},
		{name: "bad uuid", args: []string{"--oper=delete", "--uuid=x"}, want: "invalid --uuid"},
		{name: "no instance", args: []string{"--oper=add", "--uuid=" + testVMI, "--tap_name=tap0"}, want: "--instance_uuid is required"},
		{name: "no tap", args: []string{"--oper=add", "--uuid=" + testVMI, "--instance_uuid=" + testVM}, want: "--tap_name is required"},
		{name: "bad mac", args: []string{"--oper=add", "--uuid=" + testVMI, "--instance_uuid=" + testVM, "--tap_name=t", "--mac=1"}, want: "invalid --mac"},
		{name: "bad ip", args: []string{"--oper=add", "--uuid=" + testVMI, "--instance_uuid=" + testVM, "--tap_name=t", "--ip_address=::1"}, want: "invalid --ip_address"},
		{name: "bad port type", args: []string{"--oper=add", "--uuid=" + testVMI, "--instance_uuid=" + testVM, "--tap_name=t", "--port_type=Foo"}, want: "invalid --port_type"},
		{name: "bad vlan", args: []string{"--oper=add", "--uuid=" + testVMI, "--instance_uuid=" + testVM, "--tap_name=t", "--tx_vlan_id=x"}, want: "tx_vlan_id"},
		{name: "unknown flag", args: []string{"--oper=add", "--colour=red"}, want: "colour"},
		{name: "bad agent", args: []string{"--oper=delete", "--uuid=" + testVMI, "--agent=ftp://x"}, want: "--agent"},
		{name: "extra arg", args: []string{"--oper=delete", "--uuid=" + testVMI, "extra"}, want: "unexpected argument"},
		{name: "enable and disable", args: []string{"--enable", "--disable", "--uuid=" + testVMI}, want: "--disable contradicts --oper=enable"},
		{name: "disable and add", args: []string{"--oper=add", "--disable", "--uuid=" + testVMI}, want: "--disable contradicts --oper=add"},
		{name: "enable without uuid", args: []string{"--enable"}, want: "--uuid is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCtl(t, tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
		})
	}
	if code, out, _ := runCtl(t, "-h"); code != 0 || !strings.Contains(out, "--tap_name") {
		t.Errorf("-h: exit %d, %q", code, out)
	}
}

func TestPortControlAgentDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, _, stderr := runCtl(t, "--oper=delete", "--uuid="+testVMI, "--agent=http://"+addr, "--timeout=2s")
	if code != 1 || !strings.Contains(stderr, "cannot reach the agent") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestPortControlEnableDisable(t *testing.T) {
	srv := &Server{Store: mustOpen(t, t.TempDir(), nil)}
	dp := newDataplane()
	dp.install(srv)
	url := startServer(t, srv)
	if err := srv.Store.Put(testPort(testVMI, "tap0")); err != nil {
		t.Fatal(err)
	}
	// The original's form, then the flag form.
	if code, _, stderr := runCtl(t, "--oper=disable", "--uuid="+testVMI, "--agent="+url); code != 0 {
		t.Fatalf("--oper=disable: exit %d: %s", code, stderr)
	}
	if p, _ := srv.Store.Get(testVMI); !p.Disabled {
		t.Error("port not disabled")
	}
	if code, _, stderr := runCtl(t, "--enable", "--uuid="+testVMI, "--agent="+url); code != 0 {
		t.Fatalf("--enable: exit %d: %s", code, stderr)
	}
	if p, _ := srv.Store.Get(testVMI); p.Disabled {
		t.Error("port not enabled")
	}
	if code, _, stderr := runCtl(t, "--disable", "--oper=disable", "--uuid="+uuidN(5), "--agent="+url); code != 1 || !strings.Contains(stderr, "not_found") {
		t.Errorf("disable unknown port: exit %d, stderr %q", code, stderr)
	}
}
