// SPDX-License-Identifier: Apache-2.0

package security

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	mdnetlink "github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Option changes how New sets up a Firewall.
type Option func(*Firewall)

// WithNetNS makes the Firewall work in ns instead of the namespace of the
// calling thread. The handle is duplicated; the caller keeps its own.
func WithNetNS(ns netns.NsHandle) Option {
	return func(f *Firewall) { f.ns = ns }
}

// WithDenyLog makes every deny rule send the packets it drops to nflog
// group g (prefix "<port> <kind> <rule uuid or ->"), where the flows
// package records denied connections. 0 (the default) logs nothing.
func WithDenyLog(g uint16) Option {
	return func(f *Firewall) { f.logGroup = g }
}

// WithTunnelDevices names the prefix of the devices that encapsulate
// overlay packets (the dataplane's VXLAN devices, "vx" by default). A
// floating-IP routing mark is cleared on packets leaving through them, so
// that the device's own underlay route lookup, which uses the packet's mark,
// does not land in a tenant table.
func WithTunnelDevices(prefix string) Option {
	return func(f *Firewall) { f.tunnelPrefix = prefix }
}

// WithUntrackedTunnel leaves the encapsulated packets of the overlay (UDP
// to port, 4789 for VXLAN, through the underlay device dev) out of
// conntrack: "iifname dev udp dport port notrack" in a raw-priority
// prerouting chain and "oifname dev udp dport port notrack" in an output
// one. Only the inner packets need connection state; tracking the outer
// ones as well doubles the conntrack work of every forwarded packet. A
// host firewall of its own must then accept the tunnel port without
// relying on connection state. Without this option (the default) they
// are tracked.
func WithUntrackedTunnel(dev string, port uint16) Option {
	return func(f *Firewall) { f.untrackDev, f.untrackPort = dev, port }
}

// Firewall enforces a State in the kernel of one network namespace.
type Firewall struct {
	mu           sync.Mutex
	log          *slog.Logger
	ns           netns.NsHandle
	tunnelPrefix string
	untrackDev   string
	untrackPort  uint16
	nft          *nftables.Conn
	nl           *netlink.Handle
	ct           *conntrack.Conn

	table    *nftables.Table
	logGroup uint16
	// kernel is what the table holds, as last read or written; nil when
	// unknown (first Reconcile, or after a failed one).
	kernel *kview
	ports  map[string]*portAlloc // by port name
	slots  map[uint32]*portAlloc
}

// New opens the netlink sockets a Firewall needs. Nothing is changed in the
// kernel until Reconcile.
func New(log *slog.Logger, opts ...Option) (*Firewall, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Firewall{log: log, ns: netns.None(), tunnelPrefix: "vx", ports: map[string]*portAlloc{}, slots: map[uint32]*portAlloc{}}
	for _, o := range opts {
		o(f)
	}
	var err error
	if f.ns.IsOpen() {
		f.ns, err = dupNS(f.ns)
	} else {
		f.ns, err = netns.Get()
	}
	if err != nil {
		return nil, fmt.Errorf("security: namespace: %w", err)
	}
	f.nft, err = nftables.New(nftables.AsLasting(), nftables.WithNetNSFd(int(f.ns)), nftables.WithSockOptions(bigBuffers))
	if err != nil {
		f.ns.Close()
		return nil, fmt.Errorf("security: nftables: %w", err)
	}
	f.nl, err = netlink.NewHandleAt(f.ns)
	if err != nil {
		_ = f.nft.CloseLasting()
		f.ns.Close()
		return nil, fmt.Errorf("security: netlink: %w", err)
	}
	f.ct, err = conntrack.Dial(&mdnetlink.Config{NetNS: int(f.ns)})
	if err != nil {
		f.nl.Close()
		_ = f.nft.CloseLasting()
		f.ns.Close()
		return nil, fmt.Errorf("security: conntrack: %w", err)
	}
	f.table = &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
	return f, nil
}

func dupNS(ns netns.NsHandle) (netns.NsHandle, error) {
	fd, err := unix.FcntlInt(uintptr(ns), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return netns.None(), err
	}
	return netns.NsHandle(fd), nil
}

// bigBuffers lets one transaction carry thousands of ports: the whole
// batch is one sendmsg, and every message is acknowledged.
func bigBuffers(c *mdnetlink.Conn) error {
	sc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = sc.Control(func(fd uintptr) {
		if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 64<<20); e != nil {
			serr = e
		}
		if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); e != nil && serr == nil {
			serr = e
		}
	})
	if err != nil {
		return err
	}
	if errors.Is(serr, unix.EPERM) {
		return nil // unprivileged: keep the defaults
	}
	return serr
}

// Close releases the sockets. The kernel state stays: the ports stay
// protected while the agent restarts.
func (f *Firewall) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.nft.CloseLasting()
	f.ct.Close()
	f.nl.Close()
	f.ns.Close()
	return err
}

// Delete removes the table and the fwmark rules of the package.
func (f *Firewall) Delete(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kernel = nil
	if tables, err := f.nft.ListTablesOfFamily(nftables.TableFamilyINet); err == nil {
		for _, t := range tables {
			if t.Name == TableName {
				f.nft.DelTable(f.table)
			}
		}
	}
	if err := f.nft.Flush(); err != nil {
		return fmt.Errorf("security: delete table: %w", err)
	}
	return f.syncIPRules(map[uint32]int{})
}

// Reconcile makes the kernel enforce s: one nftables transaction, then the
// fwmark policy rules, then conntrack entries of removed rules are
// deleted. A Reconcile with an unchanged State sends nothing.
func (f *Firewall) Reconcile(ctx context.Context, s State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.kernel != nil && !f.tableIntact() {
		f.log.Warn("security: table changed behind our back; reading it again")
		f.kernel = nil
	}
	if f.kernel == nil {
		kv, err := f.readKernel()
		if err != nil {
			return err
		}
		f.kernel = kv
		f.seed(kv)
	}
	d, gone, err := f.compile(&s)
	if err != nil {
		return err
	}
	n := f.apply(d)
	if n > 0 {
		if err := f.nft.Flush(); err != nil {
			f.kernel = nil
			return fmt.Errorf("security: nftables transaction (%d messages): %w", n, err)
		}
	}
	f.kernel = viewOf(d)
	ipErr := f.syncIPRules(d.ipRules)
	f.forget(gone)
	f.reevaluate(d)
	return ipErr
}

// reevaluate checks the connections of security-group rules whose
// elements changed (a remote group lost a member, a port range narrowed)
// against the rule as it is now, and deletes those it no longer allows.
// Rules that went entirely are forget's.
func (f *Firewall) reevaluate(d *desired) {
	for mark := range d.affected {
		boxes := d.boxes[mark]
		a := f.slots[mark>>slotShift]
		if len(boxes) == 0 || a == nil {
			continue
		}
		info, ok := a.info[mark&idxMask]
		if !ok {
			continue
		}
		flows, err := f.ct.DumpFilter(conntrack.NewFilter().Mark(mark).MarkMask(0xffffffff), nil)
		if err != nil {
			f.log.Warn("security: conntrack dump", "mark", mark, "err", err)
			continue
		}
		for _, fl := range flows {
			t := fl.TupleOrig
			remote := t.IP.SourceAddress
			if info.kind == KindSGEgress {
				remote = t.IP.DestinationAddress
			}
			allowed := false
			for i := range boxes {
				if boxes[i].contains(remote.Unmap(), t.Proto.Protocol, t.Proto.SourcePort, t.Proto.DestinationPort) {
					allowed = true
					break
				}
			}
			if !allowed {
				if err := f.ct.Delete(fl); err != nil && !errors.Is(err, syscall.ENOENT) {
					f.log.Warn("security: conntrack delete", "err", err)
				}
			}
		}
	}
}

// tableIntact is a cheap check that nobody deleted the table or some of
// its chains or maps since the last Reconcile: the kernel's use count of
// the table is its number of chains plus sets.
func (f *Firewall) tableIntact() bool {
	tables, err := f.nft.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false
	}
	for _, t := range tables {
		if t.Name == TableName {
			// The library decodes the big-endian count in host order.
			want := uint32(len(f.kernel.chains) + len(f.kernel.sets))
			return t.Use == want || bits.ReverseBytes32(t.Use) == want
		}
	}
	return false
}

// compile builds the desired table and returns the marks whose connections
// must go (rules and ports that disappeared).
func (f *Firewall) compile(s *State) (*desired, []goneMark, error) {
	d := newDesired(f.table)
	d.logGroup = f.logGroup
	ports := make([]*Port, 0, len(s.Ports))
	seen := map[string]bool{}
	for i := range s.Ports {
		p := &s.Ports[i]
		if p.Name == "" || len(p.Name) >= 16 || strings.ContainsAny(p.Name, " /\x00") {
			return nil, nil, fmt.Errorf("security: bad port name %q", p.Name)
		}
		if seen[p.Name] {
			return nil, nil, fmt.Errorf("security: port %s given twice", p.Name)
		}
		seen[p.Name] = true
		ports = append(ports, p)
	}
	sortPorts(ports)

	// Base chains and global maps.
	fwd := d.addChain(&nftables.Chain{Name: chainForward, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: policyRef(nftables.ChainPolicyAccept)})
	egPorts := d.addSet(&nftables.Set{Name: setEgressPorts, KeyType: nftables.TypeIFName, DataType: nftables.TypeVerdict, IsMap: true, KeyByteOrder: binaryutil.BigEndian})
	inPorts := d.addSet(&nftables.Set{Name: setIngressPorts, KeyType: nftables.TypeIFName, DataType: nftables.TypeVerdict, IsMap: true, KeyByteOrder: binaryutil.BigEndian})
	fwd.rules = []dRule{
		{comment: comment("base", "established", 0, "v1"), exprs: []expr.Any{
			&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
			verdict(expr.VerdictAccept, ""),
		}},
		{comment: comment("base", "egress", 0, "v1"), exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: egPorts.set.Name, SetID: egPorts.set.ID},
		}},
		{comment: comment("base", "ingress", 0, "v1"), exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: inPorts.set.Name, SetID: inPorts.set.ID},
		}},
	}
	hasFIP := false
	for _, p := range ports {
		hasFIP = hasFIP || len(p.FloatingIPs) > 0
	}
	compileFIPBase(d, f.tunnelPrefix, hasFIP)
	if f.untrackPort != 0 && f.untrackDev != "" {
		compileUntracked(d, f.untrackDev, f.untrackPort)
	}

	// Ports: allocation first so marks are stable.
	for _, a := range f.ports {
		a.used = map[string]bool{}
	}
	for _, p := range ports {
		a := f.ports[p.Name]
		if a == nil {
			slot, err := f.freeSlot()
			if err != nil {
				return nil, nil, err
			}
			a = &portAlloc{name: p.Name, slot: slot, idx: map[string]uint32{}, info: map[uint32]ruleInfo{}, used: map[string]bool{}}
			f.ports[p.Name] = a
			f.slots[slot] = a
		}
		a.vn = p.VN
		if err := compilePort(d, s, p, a); err != nil {
			return nil, nil, fmt.Errorf("security: %w", err)
		}
		// The comment repeats the target: this nftables library does not
		// decode verdicts of elements it reads back.
		eg, in := chainPort(egress, p.Name), chainPort(ingress, p.Name)
		egPorts.add(nftables.SetElement{Key: ifnameKey(p.Name), VerdictData: verdict(expr.VerdictJump, eg), Comment: eg}, eg)
		inPorts.add(nftables.SetElement{Key: ifnameKey(p.Name), VerdictData: verdict(expr.VerdictJump, in), Comment: in}, in)
		if err := compileFIPs(d, p); err != nil {
			return nil, nil, err
		}
	}
	// What disappeared.
	var gone []goneMark
	for name, a := range f.ports {
		if !seen[name] {
			gone = append(gone, goneMark{a: a, mark: a.slot << slotShift, mask: slotMask})
			continue
		}
		for key, i := range a.idx {
			if !a.used[key] {
				m := a.slot<<slotShift | i
				if strings.HasPrefix(a.info[i].kind, "sg-") {
					m |= sgBit
				}
				gone = append(gone, goneMark{a: a, key: key, mark: m, mask: 0xffffffff})
			}
		}
	}
	return d, gone, nil
}

type goneMark struct {
	a          *portAlloc
	key        string // "" = the whole port
	mark, mask uint32
}

// forget deletes the connections of rules and ports that went and frees
// their marks.
func (f *Firewall) forget(gone []goneMark) {
	var victims []conntrack.Flow
	if len(gone) <= 8 {
		// A few marks: let the kernel filter.
		for _, g := range gone {
			flows, err := f.ct.DumpFilter(conntrack.NewFilter().Mark(g.mark).MarkMask(g.mask), nil)
			if err != nil {
				f.log.Warn("security: conntrack dump", "mark", g.mark, "err", err)
			}
			victims = append(victims, flows...)
		}
	} else if len(gone) > 0 {
		// Many: one dump, matched here.
		marks, slots := map[uint32]bool{}, map[uint32]bool{}
		for _, g := range gone {
			if g.key == "" {
				slots[g.mark>>slotShift] = true
			} else {
				marks[g.mark] = true
			}
		}
		flows, err := f.ct.Dump(nil)
		if err != nil {
			f.log.Warn("security: conntrack dump", "err", err)
		}
		for _, fl := range flows {
			if fl.Mark != 0 && (marks[fl.Mark] || slots[fl.Mark>>slotShift]) {
				victims = append(victims, fl)
			}
		}
	}
	for _, fl := range victims {
		if err := f.ct.Delete(fl); err != nil && !errors.Is(err, syscall.ENOENT) {
			f.log.Warn("security: conntrack delete", "err", err)
		}
	}
	for _, g := range gone {
		if g.key == "" {
			delete(f.ports, g.a.name)
			delete(f.slots, g.a.slot)
			continue
		}
		i := g.a.idx[g.key]
		delete(g.a.idx, g.key)
		delete(g.a.info, i)
	}
}

func (f *Firewall) freeSlot() (uint32, error) {
	for s := uint32(1); s <= maxSlot; s++ {
		if f.slots[s] == nil {
			return s, nil
		}
	}
	return 0, fmt.Errorf("security: more than %d ports", maxSlot)
}

func policyRef(p nftables.ChainPolicy) *nftables.ChainPolicy { return &p }

// Resolve decodes a connection mark set by the port stages: the port, its
// network and the uuid of the rule that allowed the connection.
func (f *Firewall) Resolve(mark uint32) (port, vn, ruleUUID string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.slots[mark>>slotShift]
	if a == nil || mark == 0 {
		return "", "", "", false
	}
	info, ok := a.info[mark&idxMask]
	if !ok {
		return a.name, a.vn, "", true
	}
	return a.name, a.vn, info.uuid, true
}

// kview is the content of the table: the comments of each chain's rules
// and each set's elements.
type kview struct {
	table  bool
	chains map[string][]string
	sets   map[string]map[string]string // set -> elemID -> value
	// from the kernel only: for seeding marks after a restart
	seeds []seed
}

type seed struct {
	port, kind, key string
	mark            uint32
}

func viewOf(d *desired) *kview {
	kv := &kview{table: true, chains: map[string][]string{}, sets: map[string]map[string]string{}}
	for name, c := range d.chains {
		cs := make([]string, len(c.rules))
		for i, r := range c.rules {
			cs[i] = r.comment
		}
		kv.chains[name] = cs
	}
	for name, s := range d.sets {
		m := make(map[string]string, len(s.elems))
		for id, e := range s.elems {
			m[id] = e.val
		}
		kv.sets[name] = m
	}
	return kv
}

// readKernel reads the table back.
func (f *Firewall) readKernel() (*kview, error) {
	kv := &kview{chains: map[string][]string{}, sets: map[string]map[string]string{}}
	tables, err := f.nft.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("security: list tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == TableName {
			kv.table = true
		}
	}
	if !kv.table {
		return kv, nil
	}
	chains, err := f.nft.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("security: list chains: %w", err)
	}
	for _, c := range chains {
		if c.Table.Name != TableName {
			continue
		}
		rules, err := f.nft.GetRules(f.table, c)
		if err != nil {
			return nil, fmt.Errorf("security: rules of %s: %w", c.Name, err)
		}
		cs := make([]string, len(rules))
		for i, r := range rules {
			cs[i] = ruleComment(r)
			if kind, key, mark, ok := parseComment(cs[i]); ok && mark != 0 {
				if _, port, ok := strings.Cut(c.Name, "-"); ok {
					kv.seeds = append(kv.seeds, seed{port: port, kind: kind, key: key, mark: mark})
				}
			}
		}
		kv.chains[c.Name] = cs
	}
	sets, err := f.nft.GetSets(f.table)
	if err != nil {
		return nil, fmt.Errorf("security: list sets: %w", err)
	}
	for _, s := range sets {
		elems, err := f.nft.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("security: elements of %s: %w", s.Name, err)
		}
		m := make(map[string]string, len(elems))
		for _, e := range elems {
			m[elemID(e.Key, e.KeyEnd)] = elemValue(s, &e)
			if isSGSet(s.Name) && len(e.Val) == 4 {
				mark := binaryutil.NativeEndian.Uint32(e.Val)
				if kind, key, _, ok := parseComment(e.Comment); ok {
					kv.seeds = append(kv.seeds, seed{port: sgSetPort(s.Name), kind: kind, key: key, mark: mark})
				}
			}
		}
		kv.sets[s.Name] = m
	}
	return kv, nil
}

// elemValue renders an element's value as compile does.
func elemValue(s *nftables.Set, e *nftables.SetElement) string {
	switch {
	case isSGSet(s.Name):
		if len(e.Val) != 4 {
			return ""
		}
		return fmt.Sprintf("%#x %s", binaryutil.NativeEndian.Uint32(e.Val), e.Comment)
	case s.Name == setEgressPorts || s.Name == setIngressPorts:
		return e.Comment
	}
	return fmt.Sprintf("%x", e.Val)
}

func isSGSet(name string) bool {
	return (strings.HasPrefix(name, "eg4-") || strings.HasPrefix(name, "eg6-") ||
		strings.HasPrefix(name, "in4-") || strings.HasPrefix(name, "in6-"))
}

func sgSetPort(name string) string {
	rest := name[4:]
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		return rest[:i]
	}
	return rest
}

// seed restores the port slots and rule indexes found in the kernel, so
// marks of connections made before a restart keep their meaning.
func (f *Firewall) seed(kv *kview) {
	for _, s := range kv.seeds {
		slot := s.mark >> slotShift
		if slot == 0 {
			continue
		}
		a := f.ports[s.port]
		if a == nil {
			if f.slots[slot] != nil {
				continue
			}
			a = &portAlloc{name: s.port, slot: slot, idx: map[string]uint32{}, info: map[uint32]ruleInfo{}, used: map[string]bool{}}
			f.ports[s.port] = a
			f.slots[slot] = a
		}
		if a.slot != slot {
			continue
		}
		i := s.mark & idxMask
		if _, taken := a.info[i]; taken || i == 0 {
			continue // index 0: the port's own mark, no rule
		}
		a.idx[s.key] = i
		uuid := s.key[strings.IndexByte(s.key, '/')+1:]
		if strings.HasPrefix(uuid, "#") {
			uuid = ""
		}
		a.info[i] = ruleInfo{key: s.key, kind: s.kind, uuid: uuid}
	}
}

// apply queues the messages that turn f.kernel into d and returns how
// many it queued.
func (f *Firewall) apply(d *desired) int {
	kv := f.kernel
	n := 0
	if !kv.table {
		f.nft.AddTable(f.table)
		n++
	}
	// New chains first: map elements and rules refer to them.
	for _, name := range d.order {
		if _, ok := kv.chains[name]; !ok {
			f.nft.AddChain(d.chains[name].chain)
			n++
		}
	}
	// Sets and their elements.
	names := sortedKeys(d.sets)
	for _, name := range names {
		ds := d.sets[name]
		cur, ok := kv.sets[name]
		if !ok {
			_ = f.nft.AddSet(ds.set, nil)
			n++
		}
		var del, add []nftables.SetElement
		for id, val := range cur {
			if e, ok := ds.elems[id]; !ok || e.val != val {
				key, end, _ := strings.Cut(id, "|")
				del = append(del, nftables.SetElement{Key: []byte(key), KeyEnd: []byte(end)})
				if m, ok := markOfValue(val); ok && isSGSet(name) {
					d.affected[m] = true
				}
			}
		}
		for _, id := range sortedKeys(ds.elems) {
			e := ds.elems[id]
			if v, ok := cur[id]; !ok || v != e.val {
				add = append(add, e.elem)
			}
		}
		n += f.queueElems(ds.set, del, true)
		n += f.queueElems(ds.set, add, false)
	}
	// Rules of changed chains.
	for _, name := range d.order {
		dc := d.chains[name]
		cur, ok := kv.chains[name]
		if ok && slices.Equal(cur, commentsOf(dc)) {
			continue
		}
		if ok && len(cur) > 0 {
			f.nft.FlushChain(dc.chain)
			n++
		}
		for _, r := range dc.rules {
			f.nft.AddRule(&nftables.Rule{Table: f.table, Chain: dc.chain, Exprs: r.exprs, UserData: ruleUD(r.comment)})
			n++
		}
	}
	// What is no longer wanted: rules first, then chains, then sets.
	var oldChains []string
	for name := range kv.chains {
		if _, ok := d.chains[name]; !ok {
			oldChains = append(oldChains, name)
		}
	}
	sort.Strings(oldChains)
	for _, name := range oldChains {
		if len(kv.chains[name]) > 0 {
			f.nft.FlushChain(&nftables.Chain{Table: f.table, Name: name})
			n++
		}
	}
	for _, name := range oldChains {
		f.nft.DelChain(&nftables.Chain{Table: f.table, Name: name})
		n++
	}
	for _, name := range sortedKeys(kv.sets) {
		if _, ok := d.sets[name]; !ok {
			f.nft.DelSet(&nftables.Set{Table: f.table, Name: name})
			n++
			if isSGSet(name) {
				for _, val := range kv.sets[name] {
					if m, ok := markOfValue(val); ok {
						d.affected[m] = true
					}
				}
			}
		}
	}
	return n
}

// queueElems adds or deletes elements in batches of bounded size.
func (f *Firewall) queueElems(s *nftables.Set, elems []nftables.SetElement, del bool) int {
	n := 0
	for len(elems) > 0 {
		k := min(len(elems), 512)
		var err error
		if del {
			err = f.nft.SetDeleteElements(s, elems[:k])
		} else {
			err = f.nft.SetAddElements(s, elems[:k])
		}
		if err != nil {
			f.log.Warn("security: set elements", "set", s.Name, "err", err)
		}
		elems = elems[k:]
		n++
	}
	return n
}

func commentsOf(c *dChain) []string {
	out := make([]string, len(c.rules))
	for i, r := range c.rules {
		out[i] = r.comment
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Counters reads the rule counters of every port.
func (f *Firewall) Counters() ([]RuleCounter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.kernel == nil {
		return nil, nil // nothing programmed yet (or the last Reconcile failed)
	}
	type ck struct{ port, kind, key string }
	acc := map[ck]*RuleCounter{}
	add := func(port, kind, key string, a *portAlloc, mark uint32, pk, by uint64) {
		if strings.HasPrefix(kind, "deny-") {
			key = "" // the security-group and the no-match drops of a direction
		}
		k := ck{port, kind, key}
		c := acc[k]
		if c == nil {
			c = &RuleCounter{Port: port, Kind: kind}
			if strings.HasPrefix(kind, "deny-") {
				c.Action = Deny
			} else if a != nil {
				if info, ok := a.info[mark&idxMask]; ok {
					c.RuleUUID, c.Action = info.uuid, info.action
				}
			}
			acc[k] = c
		}
		c.Packets += pk
		c.Bytes += by
	}
	for name, a := range f.ports {
		if f.kernel.chains[chainPort(egress, name)] == nil {
			continue
		}
		for _, dr := range []dir{egress, ingress} {
			for _, cn := range []string{chainPort(dr, name), chainSG(dr, name)} {
				rules, err := f.nft.GetRules(f.table, &nftables.Chain{Table: f.table, Name: cn})
				if err != nil {
					return nil, fmt.Errorf("security: rules of %s: %w", cn, err)
				}
				for _, r := range rules {
					kind, key, mark, ok := parseComment(ruleComment(r))
					if !ok || kind == "lookup" || kind == "next" {
						continue
					}
					for _, e := range r.Exprs {
						if c, ok := e.(*expr.Counter); ok {
							add(name, kind, key, a, mark, c.Packets, c.Bytes)
						}
					}
				}
			}
		}
	}
	for sname := range f.kernel.sets {
		if !isSGSet(sname) {
			continue
		}
		port := sgSetPort(sname)
		a := f.ports[port]
		elems, err := f.nft.GetSetElements(&nftables.Set{Table: f.table, Name: sname, KeyType: nftables.TypeInteger})
		if err != nil {
			return nil, fmt.Errorf("security: elements of %s: %w", sname, err)
		}
		for _, e := range elems {
			kind, key, _, ok := parseComment(e.Comment)
			if !ok || len(e.Val) != 4 {
				continue
			}
			var pk, by uint64
			if e.Counter != nil {
				pk, by = e.Counter.Packets, e.Counter.Bytes
			}
			add(port, kind, key, a, binaryutil.NativeEndian.Uint32(e.Val), pk, by)
		}
	}
	out := make([]RuleCounter, 0, len(acc))
	for _, c := range acc {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b RuleCounter) int {
		return strings.Compare(a.Port+" "+a.Kind+" "+a.RuleUUID, b.Port+" "+b.Kind+" "+b.RuleUUID)
	})
	return out, nil
}

// syncIPRules makes the fwmark rules at RulePriority.. be want (mark ->
// table).
func (f *Firewall) syncIPRules(want map[uint32]int) error {
	rules, err := f.nl.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("security: list ip rules: %w", err)
	}
	have := map[uint32]bool{}
	var errs []error
	for _, r := range rules {
		if r.Priority < RulePriority || r.Priority > RulePriority+999 {
			continue
		}
		t, ok := want[r.Mark]
		if ok && r.Table == t && r.Priority == RulePriority && (r.Mask == nil || *r.Mask == 0xffffffff) && !have[r.Mark] {
			have[r.Mark] = true
			continue
		}
		rr := r
		if err := f.nl.RuleDel(&rr); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("delete ip rule prio %d: %w", r.Priority, err))
		}
	}
	for mark, table := range want {
		if have[mark] {
			continue
		}
		r := netlink.NewRule()
		r.Family = netlink.FAMILY_V4
		r.Priority = RulePriority
		r.Mark = mark
		mask := uint32(0xffffffff)
		r.Mask = &mask
		r.Table = table
		if err := f.nl.RuleAdd(r); err != nil && !errors.Is(err, syscall.EEXIST) {
			errs = append(errs, fmt.Errorf("add ip rule fwmark %#x lookup %d: %w", mark, table, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("security: %w", errors.Join(errs...))
	}
	return nil
}

// compileUntracked adds the raw chains that keep the tunnel's UDP packets
// out of conntrack (WithUntrackedTunnel).
func compileUntracked(d *desired, dev string, port uint16) {
	for _, c := range []struct {
		name string
		hook *nftables.ChainHook
		key  expr.MetaKey
	}{{chainNotrackPre, nftables.ChainHookPrerouting, expr.MetaKeyIIFNAME}, {chainNotrackOut, nftables.ChainHookOutput, expr.MetaKeyOIFNAME}} {
		ch := d.addChain(&nftables.Chain{Name: c.name, Type: nftables.ChainTypeFilter,
			Hooknum: c.hook, Priority: nftables.ChainPriorityRaw, Policy: policyRef(nftables.ChainPolicyAccept)})
		ex := matchL4Proto(unix.IPPROTO_UDP)
		name := make([]byte, unix.IFNAMSIZ)
		copy(name, dev)
		ex = append(ex,
			&expr.Meta{Key: c.key, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
			&expr.Notrack{},
		)
		ch.rules = []dRule{{comment: comment("tunnel", "notrack", 0, fmt.Sprint(dev, " udp ", port)), exprs: ex}}
	}
}

// compileFIPBase adds the floating-IP maps (empty without floating IPs)
// and, when some port has a floating IP (chains), the chains that use them.
// Without floating IPs the table hooks only forward: a chain at prerouting
// or postrouting, and a nat chain (the kernel then runs its NAT hooks), is
// paid by every packet the host forwards or sends to the underlay. In
// bench/agentbench c (perf, kernel 6.18) the netfilter hooks took 14 % of
// the CPU time of the TCP stream's send and receive calls with these
// chains, 10 % without them, 4 % on the hand-built path.
func compileFIPBase(d *desired, tunnelPrefix string, chains bool) {
	inMark := d.addSet(&nftables.Set{Name: setFIPInMark, KeyType: nftables.TypeIPAddr, DataType: nftables.TypeMark, IsMap: true})
	replyMark := d.addSet(&nftables.Set{Name: setFIPReplyMark, KeyType: nftables.TypeIPAddr, DataType: nftables.TypeMark, IsMap: true})
	dnat := d.addSet(&nftables.Set{Name: setFIPDNAT, KeyType: nftables.TypeIPAddr, DataType: nftables.TypeIPAddr, IsMap: true})
	if !chains {
		return
	}
	mk := d.addChain(&nftables.Chain{Name: chainFIPMark, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityMangle, Policy: policyRef(nftables.ChainPolicyAccept)})
	reply := matchNFProto(false)
	reply = append(reply,
		&expr.Ct{Key: expr.CtKeyDIRECTION, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{1}},
		&expr.Ct{Key: expr.CtKeySTATUS, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(0x20 /* IPS_DST_NAT */), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
		loadAddr(false, true, 1),
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: replyMark.set.Name, SetID: replyMark.set.ID},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1, SourceRegister: true},
	)
	in := matchNFProto(false)
	in = append(in,
		loadAddr(false, false, 1),
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: inMark.set.Name, SetID: inMark.set.ID},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1, SourceRegister: true},
	)
	mk.rules = []dRule{
		{comment: comment("fip", "reply", 0, "v1"), exprs: reply},
		{comment: comment("fip", "in", 0, "v1"), exprs: in},
	}
	nat := d.addChain(&nftables.Chain{Name: chainFIPDNAT, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest, Policy: policyRef(nftables.ChainPolicyAccept)})
	dn := matchNFProto(false)
	dn = append(dn,
		loadAddr(false, false, 1),
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: dnat.set.Name, SetID: dnat.set.ID},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
	)
	nat.rules = []dRule{{comment: comment("fip", "dnat", 0, "v1"), exprs: dn}}
	if tunnelPrefix == "" {
		return
	}
	// A routed packet keeps its mark down to the device; a VXLAN device
	// looks up the route of the encapsulated packet with it, so a
	// floating-IP mark would send the outer packet into a tenant table.
	un := d.addChain(&nftables.Chain{Name: chainFIPUnmark, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityMangle, Policy: policyRef(nftables.ChainPolicyAccept)})
	// The mark first: most packets have none, and it is cheaper to load
	// than the device name.
	clear := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^uint32(fipTableMax - 1)), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(fipMarkBase)},
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(tunnelPrefix)},
		&expr.Immediate{Register: 1, Data: make([]byte, 4)},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1, SourceRegister: true},
	}
	un.rules = []dRule{{comment: comment("fip", "unmark", 0, "v2 "+tunnelPrefix), exprs: clear}}
}

// compileFIPs adds the map elements and ip rules of a port's floating IPs.
func compileFIPs(d *desired, p *Port) error {
	for _, fip := range p.FloatingIPs {
		if !fip.Floating.Is4() || !fip.Fixed.Is4() {
			return fmt.Errorf("security: port %s: floating IP %v -> %v: only IPv4 is supported", p.Name, fip.Floating, fip.Fixed)
		}
		if fip.PortTable <= 0 || fip.PortTable >= fipTableMax || fip.FloatingTable <= 0 || fip.FloatingTable >= fipTableMax {
			return fmt.Errorf("security: port %s: floating IP %v: tables %d/%d out of range", p.Name, fip.Floating, fip.PortTable, fip.FloatingTable)
		}
		fl := fip.Floating.AsSlice()
		in, reply := fipMark(fip.PortTable), fipMark(fip.FloatingTable)
		d.sets[setFIPInMark].add(nftables.SetElement{Key: fl, Val: binaryutil.NativeEndian.PutUint32(in)},
			fmt.Sprintf("%x", binaryutil.NativeEndian.PutUint32(in)))
		d.sets[setFIPReplyMark].add(nftables.SetElement{Key: fip.Fixed.AsSlice(), Val: binaryutil.NativeEndian.PutUint32(reply)},
			fmt.Sprintf("%x", binaryutil.NativeEndian.PutUint32(reply)))
		d.sets[setFIPDNAT].add(nftables.SetElement{Key: fl, Val: fip.Fixed.AsSlice()}, fmt.Sprintf("%x", fip.Fixed.AsSlice()))
		d.ipRules[in] = fip.PortTable
		d.ipRules[reply] = fip.FloatingTable
	}
	return nil
}

var (
	_ = net.IPv4len
	_ = netip.Addr{}
)
