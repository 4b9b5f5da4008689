// SPDX-License-Identifier: Apache-2.0

package e2e

// This file is the network-namespace lab of the vrouter agent's end-to-end
// test and of bench/agentbench: an underlay bridge in its own namespace,
// control nodes and compute hosts as namespaces attached to it, daemons
// started inside them with `ip netns exec`, and VMs as namespaces whose
// veth's host end sits in a compute host. It is a plain package file (not
// a _test file) so that the benchmark command can import it; everything in
// it returns errors instead of failing a test.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// netnsDir is where `ip netns` keeps its named namespaces.
const netnsDir = "/var/run/netns"

// UnderlayPrefix is the underlay subnet the lab uses (inside its own
// namespaces only).
const UnderlayPrefix = "10.99.0."

// Lab is one set of namespaces with a common name prefix. Close undoes
// everything it made, in reverse order.
type Lab struct {
	Prefix string // every namespace name starts with it
	Dir    string // logs and data dirs
	Bin    string // the contrail binary
	Logf   func(format string, args ...any)

	mu       sync.Mutex
	cleanups []func()
	nss      map[string]*NS
	underlay *NS
	bridge   string
}

// NewLab removes what a crashed run with the same prefix left behind and
// creates the underlay namespace with its bridge.
func NewLab(prefix, dir, bin string, logf func(string, ...any)) (*Lab, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	l := &Lab{Prefix: prefix, Dir: dir, Bin: bin, Logf: logf, nss: map[string]*NS{}, bridge: "br0"}
	CleanLeftovers(prefix, logf)
	ul, err := l.NewNS("ul")
	if err != nil {
		return nil, err
	}
	l.underlay = ul
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: l.bridge}}
	if err := ul.NL.LinkAdd(br); err != nil {
		l.Close()
		return nil, fmt.Errorf("underlay bridge: %w", err)
	}
	if err := ul.NL.LinkSetUp(br); err != nil {
		l.Close()
		return nil, fmt.Errorf("underlay bridge up: %w", err)
	}
	return l, nil
}

// CleanLeftovers kills the processes still running in namespaces whose
// names start with prefix (a previous run of ours that crashed) and
// deletes those namespaces.
func CleanLeftovers(prefix string, logf func(string, ...any)) {
	ents, _ := os.ReadDir(netnsDir)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		out, _ := exec.Command("ip", "netns", "pids", e.Name()).Output()
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
				logf("leftover: killing pid %d in namespace %s", pid, e.Name())
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		logf("leftover: deleting namespace %s", e.Name())
		_ = netns.DeleteNamed(e.Name())
	}
}

// onClose registers f to run at Close, before what was registered earlier.
func (l *Lab) onClose(f func()) {
	l.mu.Lock()
	l.cleanups = append(l.cleanups, f)
	l.mu.Unlock()
}

// OnClose registers f to run at Close (last registered, first run).
func (l *Lab) OnClose(f func()) { l.onClose(f) }

// Close stops every daemon and removes every namespace of the lab.
func (l *Lab) Close() {
	l.mu.Lock()
	cs := l.cleanups
	l.cleanups = nil
	l.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

// NS is one named network namespace of the lab.
type NS struct {
	Name string // short name given by the caller
	Full string // name under /var/run/netns
	H    netns.NsHandle
	NL   *netlink.Handle
	lab  *Lab
}

// NewNS creates the namespace <prefix><name> with lo up.
func (l *Lab) NewNS(name string) (*NS, error) {
	full := l.Prefix + name
	var h netns.NsHandle
	err := onThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		h, err = netns.NewNamed(full)
		if serr := netns.Set(orig); serr != nil {
			// The thread stays locked and dies with its goroutine.
			return fmt.Errorf("back to the original namespace: %w", serr)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", full, err)
	}
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		h.Close()
		_ = netns.DeleteNamed(full)
		return nil, fmt.Errorf("netlink in %s: %w", full, err)
	}
	n := &NS{Name: name, Full: full, H: h, NL: nl, lab: l}
	l.onClose(func() {
		n.killAll()
		nl.Close()
		h.Close()
		if err := netns.DeleteNamed(full); err != nil {
			l.Logf("delete namespace %s: %v", full, err)
		}
	})
	l.mu.Lock()
	l.nss[name] = n
	l.mu.Unlock()
	if err := n.LinkUp("lo"); err != nil {
		return nil, err
	}
	return n, nil
}

// killAll kills whatever still runs in the namespace (processes the lab
// started through `ip netns exec` and their children).
func (n *NS) killAll() {
	out, _ := exec.Command("ip", "netns", "pids", n.Full).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// onThread runs f on a locked OS thread of its own. If f leaves the thread
// in another namespace it returns an error and the thread is discarded.
func onThread(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := f()
		if err == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// Do runs f on an OS thread switched into the namespace; sockets f opens
// belong to the namespace for their whole life.
func (n *NS) Do(f func() error) error {
	var ferr error
	err := onThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		if err := netns.Set(n.H); err != nil {
			return err
		}
		ferr = f()
		if err := netns.Set(orig); err != nil {
			return fmt.Errorf("back from %s: %w", n.Full, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return ferr
}

// DialContext opens a connection from inside the namespace.
func (n *NS) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// HTTPClient is an HTTP client whose connections are made inside the
// namespace.
func (n *NS) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         n.DialContext,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     30 * time.Second,
		},
	}
}

// LinkUp sets a device of the namespace up.
func (n *NS) LinkUp(dev string) error {
	link, err := n.NL.LinkByName(dev)
	if err == nil {
		err = n.NL.LinkSetUp(link)
	}
	if err != nil {
		return fmt.Errorf("%s: %s up: %w", n.Full, dev, err)
	}
	return nil
}

// AddAddr adds an address ("10.99.0.1/24") to a device of the namespace.
func (n *NS) AddAddr(dev, cidr string) error {
	link, err := n.NL.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", n.Full, dev, err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		return err
	}
	if err := n.NL.AddrAdd(link, a); err != nil {
		return fmt.Errorf("%s: address %s on %s: %w", n.Full, cidr, dev, err)
	}
	return nil
}

// Run runs a command inside the namespace and returns its combined output.
func (n *NS) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Full, name}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %s %s: %w: %s", n.Full, name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// AttachUnderlay connects the namespace to the underlay bridge with a veth
// whose end in the namespace is eth0 and has ip/24.
func (l *Lab) AttachUnderlay(n *NS, ip string) error {
	ulName := "u-" + n.Name
	if len(ulName) > 15 {
		ulName = ulName[:15]
	}
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: ulName}, PeerName: "eth0", PeerNamespace: netlink.NsFd(n.H)}
	if err := l.underlay.NL.LinkAdd(v); err != nil {
		return fmt.Errorf("underlay veth for %s: %w", n.Full, err)
	}
	link, err := l.underlay.NL.LinkByName(ulName)
	if err != nil {
		return err
	}
	br, err := l.underlay.NL.LinkByName(l.bridge)
	if err != nil {
		return err
	}
	if err := l.underlay.NL.LinkSetMaster(link, br); err != nil {
		return fmt.Errorf("enslave %s: %w", ulName, err)
	}
	if err := l.underlay.NL.LinkSetUp(link); err != nil {
		return err
	}
	if err := n.AddAddr("eth0", ip+"/24"); err != nil {
		return err
	}
	return n.LinkUp("eth0")
}

// Daemon is a process the lab started inside a namespace.
type Daemon struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

// Start runs `<bin> args...` inside the namespace, its output going to
// <lab dir>/<name>.log.
func (n *NS) Start(name, bin string, args ...string) (*Daemon, error) {
	logPath := filepath.Join(n.lab.Dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Full, bin}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	// `ip netns exec` execs the command in place, so the pid is the
	// daemon's; it dies with the test process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &Daemon{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		f.Close()
		close(d.done)
	}()
	n.lab.onClose(func() { d.Kill() })
	n.lab.Logf("started %s in %s (pid %d): %s %s", name, n.Full, cmd.Process.Pid, filepath.Base(bin), strings.Join(args, " "))
	return d, nil
}

// Exited reports whether the process is gone, and how it ended.
func (d *Daemon) Exited() (bool, error) {
	select {
	case <-d.done:
		return true, d.err
	default:
		return false, nil
	}
}

// Pid is the daemon's process id.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Kill sends SIGKILL and waits for the process to be gone.
func (d *Daemon) Kill() {
	if ok, _ := d.Exited(); ok {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
	}
}

// Stop sends SIGTERM and waits up to 15 s for the exit.
func (d *Daemon) Stop() error {
	if ok, err := d.Exited(); ok {
		return err
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return d.err
	case <-time.After(15 * time.Second):
		d.Kill()
		return errors.New(d.Name + ": no exit 15 s after SIGTERM")
	}
}

// Tail returns the last n lines of the daemon's log.
func (d *Daemon) Tail(n int) string {
	f, err := os.Open(d.LogPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 4*n {
			lines = lines[len(lines)-n:]
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Grep returns the lines of the daemon's log that contain s.
func (d *Daemon) Grep(s string, max int) []string {
	data, _ := os.ReadFile(d.LogPath)
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
			if len(out) == max {
				break
			}
		}
	}
	return out
}

// WaitHTTP waits until url answers from inside the namespace with a status
// below 500, or the daemon exits, or ctx ends.
func (n *NS) WaitHTTP(ctx context.Context, d *Daemon, url string) error {
	hc := n.HTTPClient(2 * time.Second)
	defer hc.CloseIdleConnections()
	for {
		if ok, err := d.Exited(); ok {
			return fmt.Errorf("%s exited (%v) before answering on %s; log:\n%s", d.Name, err, url, d.Tail(30))
		}
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s does not answer on %s (%v); log:\n%s", d.Name, url, err, d.Tail(30))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitTCP waits until addr accepts TCP connections from inside the namespace.
func (n *NS) WaitTCP(ctx context.Context, d *Daemon, addr string) error {
	for {
		if ok, err := d.Exited(); ok {
			return fmt.Errorf("%s exited (%v) before listening on %s; log:\n%s", d.Name, err, addr, d.Tail(30))
		}
		c, err := n.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s does not listen on %s (%v); log:\n%s", d.Name, addr, err, d.Tail(30))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// VM is a namespace standing for a virtual machine: its eth0 is one end of
// a veth whose other end (the tap, named like the port's system-name) is in
// a compute host.
type VM struct {
	*NS
	Host *NS
	Tap  string
	MAC  string
}

// NewVM creates the VM namespace and its veth: eth0 with the given MAC and
// MTU in the VM, tap in the host, both up.
func (l *Lab) NewVM(name string, host *NS, tap, mac string, mtu int) (*VM, error) {
	n, err := l.NewNS(name)
	if err != nil {
		return nil, err
	}
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return nil, fmt.Errorf("vm %s: mac %q: %w", name, mac, err)
	}
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: tap, MTU: mtu}, PeerName: "eth0", PeerNamespace: netlink.NsFd(n.H), PeerHardwareAddr: hw}
	if err := host.NL.LinkAdd(v); err != nil {
		return nil, fmt.Errorf("veth %s/%s -- %s/eth0: %w", host.Full, tap, n.Full, err)
	}
	l.onClose(func() {
		if link, err := host.NL.LinkByName(tap); err == nil {
			_ = host.NL.LinkDel(link)
		}
	})
	eth, err := n.NL.LinkByName("eth0")
	if err != nil {
		return nil, err
	}
	if err := n.NL.LinkSetMTU(eth, mtu); err != nil {
		return nil, err
	}
	if err := n.LinkUp("eth0"); err != nil {
		return nil, err
	}
	if err := host.LinkUp(tap); err != nil {
		return nil, err
	}
	return &VM{NS: n, Host: host, Tap: tap, MAC: mac}, nil
}

// ConfigureStatic gives the VM's eth0 ip/plen and a default route via gw,
// as a DHCP client would.
func (vm *VM) ConfigureStatic(ip string, plen int, gw string) error {
	if err := vm.AddAddr("eth0", ip+"/"+strconv.Itoa(plen)); err != nil {
		return err
	}
	link, err := vm.NL.LinkByName("eth0")
	if err != nil {
		return err
	}
	r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.ParseIP(gw)}
	if err := vm.NL.RouteReplace(r); err != nil {
		return fmt.Errorf("%s: default via %s: %w", vm.Full, gw, err)
	}
	return nil
}

// Addrs lists the IPv4 addresses on the VM's eth0 ("10.1.1.3/24").
func (vm *VM) Addrs() []string {
	link, err := vm.NL.LinkByName("eth0")
	if err != nil {
		return nil
	}
	as, _ := vm.NL.AddrList(link, netlink.FAMILY_V4)
	var out []string
	for _, a := range as {
		out = append(out, a.IPNet.String())
	}
	return out
}

// DefaultGateway returns the gateway of the VM's default route, "" if none.
func (vm *VM) DefaultGateway() string {
	rs, _ := vm.NL.RouteList(nil, netlink.FAMILY_V4)
	for _, r := range rs {
		if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw != nil {
			return r.Gw.String()
		}
	}
	return ""
}
