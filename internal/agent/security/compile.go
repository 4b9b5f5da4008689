// SPDX-License-Identifier: Apache-2.0

package security

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Connection-mark layout.
const (
	slotShift  = 20
	slotMask   = 0xfff00000
	sgBit      = 1 << 19
	idxMask    = sgBit - 1
	maxSlot    = 1<<12 - 1
	maxRuleIdx = idxMask
)

// Names in the table.
const (
	TableName       = "contrail"
	chainForward    = "forward"
	chainFIPMark    = "fip_mark"
	chainFIPDNAT    = "fip_dnat"
	chainFIPUnmark  = "fip_unmark"
	chainNotrackPre = "notrack_pre"
	chainNotrackOut = "notrack_out"
	setEgressPorts  = "egress_ports"
	setIngressPorts = "ingress_ports"
	setFIPInMark    = "fip_in_mark"
	setFIPReplyMark = "fip_reply_mark"
	setFIPDNAT      = "fip_dnat"
)

// Floating-IP routing marks and policy rules.
const (
	// RulePriority is the priority of the fwmark policy rules; the package
	// owns priorities RulePriority..RulePriority+999.
	RulePriority = 19000
	fipMarkBase  = 0x0cf00000
	fipTableMax  = 1 << 20
)

func fipMark(table int) uint32 { return fipMarkBase | uint32(table) }

// dir is a direction at a port, the VM's point of view.
type dir int

const (
	egress dir = iota
	ingress
)

func (d dir) String() string {
	if d == ingress {
		return "in"
	}
	return "eg"
}

func chainPort(d dir, port string) string { return d.String() + "-" + port }
func chainSG(d dir, port string) string   { return "sg" + d.String() + "-" + port }
func setSG(d dir, v6 bool, port string, layer int) string {
	f := "4"
	if v6 {
		f = "6"
	}
	return fmt.Sprintf("%s%s-%s-%d", d, f, port, layer)
}

// dRule is a desired rule: its expressions and the comment that identifies
// it (kind, rule key, mark and a hash of what it matches).
type dRule struct {
	comment string
	exprs   []expr.Any
}

type dChain struct {
	chain *nftables.Chain
	rules []dRule
}

type dElem struct {
	elem nftables.SetElement
	val  string // what the element maps to, for comparison
}

// markOfValue returns the connection mark of a security-group element from
// its value text ("0x... <comment>").
func markOfValue(val string) (uint32, bool) {
	f := strings.Fields(val)
	if len(f) == 0 {
		return 0, false
	}
	m, err := strconv.ParseUint(f[0], 0, 32)
	return uint32(m), err == nil
}

// contains reports whether a connection (remote address, protocol, ports)
// falls in b; ports are ignored for protocols without them.
func (b *box) contains(a netip.Addr, proto uint8, sport, dport uint16) bool {
	if a.Compare(b.lo) < 0 || a.Compare(b.hi) > 0 || proto < b.plo || proto > b.phi {
		return false
	}
	switch proto {
	case unix.IPPROTO_TCP, unix.IPPROTO_UDP, unix.IPPROTO_SCTP, unix.IPPROTO_UDPLITE, unix.IPPROTO_DCCP:
		return sport >= b.slo && sport <= b.shi && dport >= b.dlo && dport <= b.dhi
	}
	return true
}

type dSet struct {
	set   *nftables.Set
	elems map[string]dElem // by elemID
}

func elemID(key, keyEnd []byte) string { return string(key) + "|" + string(keyEnd) }

// desired is the whole table as it should be.
type desired struct {
	table  *nftables.Table
	chains map[string]*dChain
	sets   map[string]*dSet
	order  []string // chain names in creation order
	// ip rules: mark -> table
	ipRules map[uint32]int
	// nflog group of the deny rules; 0 = no logging
	logGroup uint16
	// boxes of each security-group rule mark, and the marks whose elements
	// apply removed or changed (their connections are checked again)
	boxes    map[uint32][]box
	affected map[uint32]bool
}

// drop ends a deny rule: "log prefix ... group G" when deny logging is on,
// then drop. The prefix is "<port> <kind> <rule uuid or ->".
func (d *desired) drop(port, kind, uuid string) []expr.Any {
	v := verdict(expr.VerdictDrop, "")
	if d.logGroup == 0 {
		return []expr.Any{v}
	}
	if uuid == "" {
		uuid = "-"
	}
	return []expr.Any{&expr.Log{
		Key:   1<<unix.NFTA_LOG_GROUP | 1<<unix.NFTA_LOG_PREFIX | 1<<unix.NFTA_LOG_SNAPLEN,
		Group: d.logGroup, Snaplen: 128, Data: []byte(port + " " + kind + " " + uuid),
	}, v}
}

// dropWhat is the part of a deny rule's hash that depends on logging.
func (d *desired) dropWhat() string { return fmt.Sprintf("drop log=%d", d.logGroup) }

func newDesired(t *nftables.Table) *desired {
	return &desired{table: t, chains: map[string]*dChain{}, sets: map[string]*dSet{}, ipRules: map[uint32]int{},
		boxes: map[uint32][]box{}, affected: map[uint32]bool{}}
}

func (d *desired) addChain(c *nftables.Chain) *dChain {
	c.Table = d.table
	dc := &dChain{chain: c}
	d.chains[c.Name] = dc
	d.order = append(d.order, c.Name)
	return dc
}

func (d *desired) addSet(s *nftables.Set) *dSet {
	s.Table = d.table
	ds := &dSet{set: s, elems: map[string]dElem{}}
	d.sets[s.Name] = ds
	return ds
}

func (s *dSet) add(e nftables.SetElement, val string) {
	s.elems[elemID(e.Key, e.KeyEnd)] = dElem{elem: e, val: val}
}

func comment(kind, key string, mark uint32, what string) string {
	h := fnv.New64a()
	h.Write([]byte(what))
	return fmt.Sprintf("%s %s m=%#x h=%x", kind, key, mark, h.Sum64())
}

func ruleUD(c string) []byte { return userdata.AppendString(nil, userdata.TypeComment, c) }

func ruleComment(r *nftables.Rule) string {
	s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return s
}

// parseComment splits "kind key m=0x.. h=.." (rules) or "kind key"
// (elements).
func parseComment(c string) (kind, key string, mark uint32, ok bool) {
	f := strings.Fields(c)
	if len(f) < 2 {
		return "", "", 0, false
	}
	kind, key = f[0], f[1]
	for _, x := range f[2:] {
		if strings.HasPrefix(x, "m=") {
			_, _ = fmt.Sscanf(x[2:], "%v", &mark)
		}
	}
	return kind, key, mark, true
}

// ruleKey identifies a rule within a port for counters and marks.
func ruleKey(kind string, r *Rule, pos int) string {
	if r.UUID != "" {
		return kind + "/" + r.UUID
	}
	return fmt.Sprintf("%s/#%d", kind, pos)
}

// box is one element of a security-group map: a range in each dimension.
type box struct {
	lo, hi             netip.Addr
	plo, phi           byte
	slo, shi, dlo, dhi uint16
	mark               uint32
	comment            string
}

func (a *box) overlaps(b *box) bool {
	return a.lo.Compare(b.hi) <= 0 && b.lo.Compare(a.hi) <= 0 &&
		a.plo <= b.phi && b.plo <= a.phi &&
		a.slo <= b.shi && b.slo <= a.shi &&
		a.dlo <= b.dhi && b.dlo <= a.dhi
}

func (a *box) same(b *box) bool {
	return a.lo == b.lo && a.hi == b.hi && a.plo == b.plo && a.phi == b.phi &&
		a.slo == b.slo && a.shi == b.shi && a.dlo == b.dlo && a.dhi == b.dhi
}

// layer spreads boxes over lists in which no two overlap, keeping the
// first of identical boxes. Boxes are placed in order, so the result is
// deterministic.
func layer(boxes []box) [][]box {
	var layers [][]box
	seen := map[string]bool{}
next:
	for i := range boxes {
		b := &boxes[i]
		id := fmt.Sprint(b.lo, b.hi, b.plo, b.phi, b.slo, b.shi, b.dlo, b.dhi)
		if seen[id] {
			continue
		}
		seen[id] = true
		for l := range layers {
			free := true
			for j := range layers[l] {
				if layers[l][j].overlaps(b) {
					free = false
					break
				}
			}
			if free {
				layers[l] = append(layers[l], *b)
				continue next
			}
		}
		layers = append(layers, []box{*b})
	}
	return layers
}

// portAlloc is the slot of a port and the indexes of its rules; it keeps
// marks stable across Reconciles.
type portAlloc struct {
	name, vn string
	slot     uint32
	idx      map[string]uint32 // rule key -> index
	info     map[uint32]ruleInfo
	next     uint32
	used     map[string]bool // keys seen in the current compile
}

type ruleInfo struct {
	key, kind, uuid string
	action          Action
}

func (p *portAlloc) mark(kind string, r *Rule, pos int) (uint32, error) {
	key := ruleKey(kind, r, pos)
	p.used[key] = true
	i, ok := p.idx[key]
	if !ok {
		for n := 0; ; n++ {
			if n > maxRuleIdx {
				return 0, fmt.Errorf("port %s: more than %d rules", p.name, maxRuleIdx)
			}
			p.next++
			if p.next > maxRuleIdx {
				p.next = 1
			}
			if _, taken := p.info[p.next]; !taken {
				break
			}
		}
		i = p.next
		p.idx[key] = i
	}
	uuid := r.UUID
	p.info[i] = ruleInfo{key: key, kind: kind, uuid: uuid, action: r.Action}
	m := p.slot<<slotShift | i
	if strings.HasPrefix(kind, "sg-") {
		m |= sgBit
	}
	return m, nil
}

// compilePort adds the chains and maps of one port to d.
func compilePort(d *desired, s *State, p *Port, a *portAlloc) error {
	for _, dr := range []dir{egress, ingress} {
		if err := compileSG(d, s, p, a, dr); err != nil {
			return err
		}
		if err := compileVN(d, s, p, a, dr); err != nil {
			return err
		}
	}
	return nil
}

func sgKind(d dir) string {
	if d == ingress {
		return KindSGIngress
	}
	return KindSGEgress
}

func vnKind(d dir) string {
	if d == ingress {
		return KindVNIngress
	}
	return KindVNEgress
}

func denyKind(d dir) string {
	if d == ingress {
		return KindDenyIngress
	}
	return KindDenyEgress
}

func compileSG(d *desired, s *State, p *Port, a *portAlloc, dr dir) error {
	c := d.addChain(&nftables.Chain{Name: chainSG(dr, p.Name)})
	if !p.PolicyEnabled || (!p.HasSGs && len(p.SGRules) == 0) {
		return nil
	}
	kind := sgKind(dr)
	var boxes [2][]box // by family
	for i := range p.SGRules {
		r := &p.SGRules[i]
		if r.Ingress != (dr == ingress) || r.Action != Pass {
			continue
		}
		v6 := r.ipv6()
		remote := r.Dst
		if dr == ingress {
			remote = r.Src
		}
		prefixes := s.resolve(remote, v6)
		slo, shi := r.SrcPorts.bounds()
		dlo, dhi := r.DstPorts.bounds()
		if len(prefixes) == 0 || slo > shi || dlo > dhi {
			continue
		}
		m, err := a.mark(kind, r, i)
		if err != nil {
			return err
		}
		plo, phi := byte(0), byte(255)
		if r.Protocol >= 0 {
			plo, phi = byte(r.Protocol), byte(r.Protocol)
		}
		f := 0
		if v6 {
			f = 1
		}
		key := ruleKey(kind, r, i)
		for _, pf := range prefixes {
			boxes[f] = append(boxes[f], box{lo: pf.Masked().Addr(), hi: lastAddr(pf), plo: plo, phi: phi,
				slo: slo, shi: shi, dlo: dlo, dhi: dhi, mark: m, comment: kind + " " + key})
		}
	}
	for f, bs := range boxes {
		v6 := f == 1
		keyType := nftables.TypeIPAddr
		if v6 {
			keyType = nftables.TypeIP6Addr
		}
		for l, lb := range layer(bs) {
			set := d.addSet(&nftables.Set{
				Name:          setSG(dr, v6, p.Name, l),
				KeyType:       nftables.MustConcatSetType(keyType, nftables.TypeInetProto, nftables.TypeInetService, nftables.TypeInetService),
				DataType:      nftables.TypeMark,
				IsMap:         true,
				Interval:      true,
				Concatenation: true,
				Counter:       true,
			})
			for _, b := range lb {
				d.boxes[b.mark] = append(d.boxes[b.mark], b)
				val := binaryutil.NativeEndian.PutUint32(b.mark)
				set.add(nftables.SetElement{
					Key:     sgKey(b.lo, b.plo, b.slo, b.dlo),
					KeyEnd:  sgKey(b.hi, b.phi, b.shi, b.dhi),
					Val:     val,
					Comment: b.comment,
				}, fmt.Sprintf("%#x %s", b.mark, b.comment))
			}
			c.rules = append(c.rules, dRule{
				comment: comment("lookup", set.set.Name, 0, set.set.Name),
				exprs:   lookupSG(set.set, v6, dr == ingress),
			})
		}
	}
	c.rules = append(c.rules, dRule{
		comment: comment(denyKind(dr), "sg", 0, d.dropWhat()),
		exprs:   append([]expr.Any{&expr.Counter{}}, d.drop(p.Name, denyKind(dr), "")...),
	})
	return nil
}

func compileVN(d *desired, s *State, p *Port, a *portAlloc, dr dir) error {
	c := d.addChain(&nftables.Chain{Name: chainPort(dr, p.Name)})
	sg := chainSG(dr, p.Name)
	if len(p.VNRules) == 0 {
		// The port's own mark (rule index 0): a connection that no rule
		// marks later still names its port, so it is a flow record.
		m := a.slot << slotShift
		c.rules = append(c.rules, dRule{comment: comment("next", "sg", m, sg),
			exprs: append(setCtMark(m), verdict(expr.VerdictGoto, sg))})
		return nil
	}
	kind := vnKind(dr)
	if dr == ingress && len(p.FloatingIPs) > 0 {
		// Connections through a floating IP come from the floating
		// network, which the port's network ACL does not describe.
		c.rules = append(c.rules, dRule{comment: comment("fip", "skip-acl", 0, sg), exprs: []expr.Any{
			&expr.Ct{Key: expr.CtKeySTATUS, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(0x20 /* IPS_DST_NAT */), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
			verdict(expr.VerdictGoto, sg),
		}})
	}
	for i := range p.VNRules {
		r := &p.VNRules[i]
		v6 := r.ipv6()
		srcs := s.resolve(r.Src, v6)
		dsts := s.resolve(r.Dst, v6)
		slo, shi := r.SrcPorts.bounds()
		dlo, dhi := r.DstPorts.bounds()
		if len(srcs) == 0 || len(dsts) == 0 || slo > shi || dlo > dhi {
			continue
		}
		m, err := a.mark(kind, r, i)
		if err != nil {
			return err
		}
		key := ruleKey(kind, r, i)
		for _, sp := range srcs {
			for _, dp := range dsts {
				ex := matchNFProto(v6)
				if r.Protocol >= 0 {
					ex = append(ex, matchL4Proto(r.Protocol)...)
				}
				ex = append(ex, matchPrefix(sp, true)...)
				ex = append(ex, matchPrefix(dp, false)...)
				ex = append(ex, matchPorts(r.SrcPorts, 0)...)
				ex = append(ex, matchPorts(r.DstPorts, 2)...)
				ex = append(ex, &expr.Counter{})
				what := fmt.Sprint(v6, r.Protocol, sp, dp, slo, shi, dlo, dhi, r.Action)
				if r.Action == Pass {
					ex = append(ex, setCtMark(m)...)
					ex = append(ex, verdict(expr.VerdictGoto, sg))
				} else {
					what += d.dropWhat()
					ex = append(ex, d.drop(p.Name, kind, r.UUID)...)
				}
				c.rules = append(c.rules, dRule{comment: comment(kind, key, m, what), exprs: ex})
			}
		}
	}
	c.rules = append(c.rules, dRule{
		comment: comment(denyKind(dr), "vn-nomatch", 0, d.dropWhat()),
		exprs:   append([]expr.Any{&expr.Counter{}}, d.drop(p.Name, denyKind(dr), "")...),
	})
	return nil
}

// sortPorts orders ports by name for deterministic output.
func sortPorts(ps []*Port) {
	slices.SortFunc(ps, func(a, b *Port) int { return cmp.Compare(a.Name, b.Name) })
}
