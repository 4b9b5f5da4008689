// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/google/uuid"

	"github.com/contrail-go/contrail/internal/ipam"
	"github.com/contrail-go/contrail/internal/model"
)

// typeHooks is the per-type behaviour of the original's resources/*.py.
type typeHooks struct {
	create func(c *createOp) error
	update func(u *updateOp) error
}

var hooks = map[string]*typeHooks{
	"virtual-network":           {create: vnCreate, update: vnUpdate},
	"security-group":            {create: sgCreate, update: sgUpdate},
	"virtual-machine-interface": {create: vmiCreate, update: vmiUpdate},
	"instance-ip":               {create: iipCreate, update: iipUpdate},
	"floating-ip":               {create: fipCreate, update: fipUpdate},
	"alias-ip":                  {create: aliasCreate, update: aliasUpdate},
	"network-ipam":              {create: ipamCreate, update: ipamUpdate},
	"route-target":              {create: rtCreate},
}

func hooksFor(typ string) *typeHooks { return hooks[typ] }

// allocationKeys lists the ID and address keys that o holds; they are
// written with o and deleted with it. Callers hold the cache lock.
func (s *Server) allocationKeys(c *cache, o *model.Object) []string {
	switch o.Type {
	case "virtual-network":
		var keys []string
		var id int64
		if o.Prop("virtual_network_network_id", &id) {
			keys = append(keys, s.keys.ID(vnIDPool.name, strconv.FormatInt(id, 10)))
		}
		for _, sn := range vnOwnSubnets(o) {
			keys = append(keys, s.keys.ID(subnetPool, sn.UUID))
		}
		return keys
	case "network-ipam":
		var keys []string
		for _, sn := range ipamOwnSubnets(o) {
			keys = append(keys, s.keys.ID(subnetPool, sn.UUID))
		}
		return keys
	case "security-group":
		var id, conf int64
		o.Prop("configured_security_group_id", &conf)
		if conf == 0 && o.Prop("security_group_id", &id) {
			return []string{s.keys.ID(sgIDPool.name, strconv.FormatInt(id, 10))}
		}
	case "instance-ip":
		var addr, sub string
		if o.Prop("instance_ip_address", &addr) && o.Prop("subnet_uuid", &sub) {
			return []string{s.keys.IP(sub, addr)}
		}
	case "floating-ip", "alias-ip":
		prop := "floating_ip_address"
		if o.Type == "alias-ip" {
			prop = "alias_ip_address"
		}
		var addr string
		if !o.Prop(prop, &addr) {
			return nil
		}
		pool := c.Get(o.ParentUUID)
		if pool == nil {
			return nil
		}
		vn := c.Get(pool.Obj.ParentUUID)
		if vn == nil {
			return nil
		}
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return nil
		}
		if sn := subnetFor(s.vnSubnets(c, vn.Obj), a); sn != nil {
			return []string{s.keys.IP(sn.UUID, a.String())}
		}
	}
	return nil
}

func subnetFor(subnets []*ipam.Subnet, a netip.Addr) *ipam.Subnet {
	for _, sn := range subnets {
		if sn.Contains(a) {
			return sn
		}
	}
	return nil
}

// subnetPool holds the subnet uuids of networks and flat-subnet IPAMs: a
// subnet uuid scopes the addresses allocated in the subnet (ip/<uuid>/...),
// so one belongs to one network or IPAM only.
const subnetPool = "subnet"

// vnOwnSubnets returns the subnets on a network's IPAM ref attrs (not those
// of the flat-subnet IPAMs it refers to).
func vnOwnSubnets(o *model.Object) []*ipam.Subnet {
	var out []*ipam.Subnet
	for i, r := range o.Refs["network_ipam_refs"] {
		if len(r.Attr) == 0 {
			continue
		}
		v, _ := decodeValue(r.Attr)
		m, _ := v.(map[string]any)
		subs, _ := ipam.ParseVnSubnets(fmt.Sprintf("network_ipam_refs[%d].attr", i), m)
		out = append(out, subs...)
	}
	return out
}

// ipamOwnSubnets returns the subnets of an IPAM's ipam_subnets property.
func ipamOwnSubnets(o *model.Object) []*ipam.Subnet {
	raw, ok := o.Props["ipam_subnets"]
	if !ok {
		return nil
	}
	v, _ := decodeValue(raw)
	m, _ := v.(map[string]any)
	subs, _ := ipam.ParseIpamSubnets("ipam_subnets", m)
	return subs
}

// claimSubnets takes the uuids of o's subnets that old (nil on create) did
// not hold, refusing uuids that another network or IPAM holds.
func (s *Server) claimSubnets(t *txn, o, old *model.Object, subs []*ipam.Subnet) error {
	held := map[string]bool{}
	if old != nil {
		for _, k := range s.allocationKeys(s.cache, old) {
			held[k] = true
		}
	}
	for _, sn := range subs {
		key := s.keys.ID(subnetPool, sn.UUID)
		if held[key] {
			continue
		}
		fail := conflict(sn.Path+".subnet_uuid", "subnet uuid %s is in use by another network or IPAM", sn.UUID)
		if owner, used := s.cache.allocs[key]; used && owner != o.UUID {
			return fail
		}
		t.mustBeAbsent(key, fail)
		t.put(key, o.UUID)
	}
	return nil
}

// guardSubnets makes a write that allocates from vn's subnets retry when
// the network, or a flat-subnet IPAM whose subnets it uses, changed
// meanwhile: the subnet may be gone. Callers hold the cache read lock.
func (s *Server) guardSubnets(t *txn, vn *node) {
	t.mustBeUnchanged(s.keys.Object(vn.Obj.Type, vn.Obj.UUID), vn.ModRev, nil)
	for _, r := range vn.Obj.Refs["network_ipam_refs"] {
		if n := s.cache.Get(r.UUID); n != nil {
			if _, flat := n.Obj.Props["ipam_subnets"]; flat {
				t.mustBeUnchanged(s.keys.Object(n.Obj.Type, n.Obj.UUID), n.ModRev, nil)
			}
		}
	}
}

// checkSubnetsEmpty refuses to drop subnets of old that are not in now
// (same uuid and prefix) while they hold addresses.
func (s *Server) checkSubnetsEmpty(t *txn, field string, old, now []*ipam.Subnet) error {
	kept := map[string]bool{}
	for _, sn := range now {
		kept[sn.UUID+" "+sn.Prefix.String()] = true
	}
	for _, sn := range old {
		if kept[sn.UUID+" "+sn.Prefix.String()] {
			continue
		}
		prefix := s.keys.IP(sn.UUID, "")
		fail := conflict(field, "Cannot delete IP block %s: addresses in use", sn.Prefix)
		for k := range s.cache.allocs {
			if len(k) > len(prefix) && k[:len(prefix)] == prefix {
				return fail
			}
		}
		// Guard: no address was allocated in it meanwhile.
		t.mustBeEmpty(prefix, fail)
	}
	return nil
}

// vnSubnets returns the subnets a network allocates from: the subnets on
// its refs to IPAMs, plus the IPAM's own subnets for flat-subnet IPAMs.
func (s *Server) vnSubnets(c *cache, vn *model.Object) []*ipam.Subnet {
	out := s.parsedSubnets(vn, func() []*ipam.Subnet {
		var subs []*ipam.Subnet
		for i, r := range vn.Refs["network_ipam_refs"] {
			if len(r.Attr) == 0 {
				continue
			}
			v, _ := decodeValue(r.Attr)
			if m, ok := v.(map[string]any); ok {
				if ss, err := ipam.ParseVnSubnets(fmt.Sprintf("network_ipam_refs[%d].attr", i), m); err == nil {
					subs = append(subs, ss...)
				}
			}
		}
		return subs
	})
	for _, r := range vn.Refs["network_ipam_refs"] {
		n := c.Get(r.UUID)
		if n == nil {
			continue
		}
		out = append(out, s.parsedSubnets(n.Obj, func() []*ipam.Subnet {
			var method string
			n.Obj.Prop("ipam_subnet_method", &method)
			if method != "flat-subnet" {
				return nil
			}
			var prop map[string]any
			if raw, ok := n.Obj.Props["ipam_subnets"]; ok {
				v, _ := decodeValue(raw)
				prop, _ = v.(map[string]any)
			}
			subs, err := ipam.ParseIpamSubnets("ipam_subnets", prop)
			if err != nil {
				return nil
			}
			return subs
		})...)
	}
	return out
}

// parsedSubnets returns parse(o), computed once per object version: stored
// objects never change (an update is a new *model.Object), so the subnets
// parsed from one can be reused by every allocation in its network. The
// results are shared and must not be modified.
func (s *Server) parsedSubnets(o *model.Object, parse func() []*ipam.Subnet) []*ipam.Subnet {
	s.subnetMu.Lock()
	subs, ok := s.subnetCache[o]
	s.subnetMu.Unlock()
	if ok {
		return subs
	}
	subs = parse()
	s.subnetMu.Lock()
	if len(s.subnetCache) >= 4096 {
		clear(s.subnetCache) // old versions must not be kept alive forever
	}
	s.subnetCache[o] = subs
	s.subnetMu.Unlock()
	return subs
}

// --- virtual-network ---

func vnCreate(c *createOp) error {
	if !c.internal {
		if _, ok := c.o.Props["virtual_network_network_id"]; ok {
			return forbidden("virtual_network_network_id", "virtual_network_network_id is allocated by the system")
		}
	}
	s := c.s
	var id int64
	if v, ok := c.prop("virtual_network_network_id").(json.Number); ok {
		id, _ = v.Int64()
		key := s.keys.ID(vnIDPool.name, strconv.FormatInt(id, 10))
		c.t.mustBeAbsent(key, conflict("virtual_network_network_id", "network id %d is in use", id))
		c.t.put(key, c.o.UUID)
	} else {
		n, key, ok := s.pickID(vnIDPool, func(k string) bool { _, used := s.cache.allocs[k]; return used })
		if !ok {
			return conflict("virtual_network_network_id", "no free virtual network id")
		}
		c.t.reserved = append(c.t.reserved, key)
		c.t.mustBeAbsent(key, nil)
		c.t.put(key, c.o.UUID)
		id = n
		c.setProp("virtual_network_network_id", json.Number(strconv.FormatInt(n, 10)))
	}
	if err := fillVNSubnets(c.s, c.o, nil); err != nil {
		return err
	}
	if err := s.claimSubnets(c.t, c.o, nil, vnOwnSubnets(c.o)); err != nil {
		return err
	}
	// The primary routing instance, created with the network as the
	// original's post_dbe_create does.
	ri := &model.Object{
		Type:       "routing-instance",
		UUID:       uuid.NewString(),
		FQName:     append(append([]string(nil), c.o.FQName...), c.o.Name()),
		ParentType: "virtual-network",
		ParentUUID: c.o.UUID,
		Props:      map[string]json.RawMessage{},
	}
	sub := &createOp{s: s, t: c.t, o: ri, internal: true, parent: nil}
	sub.setProp("routing_instance_is_default", true)
	sub.setProp("display_name", ri.Name())
	if err := sub.fillPerms(); err != nil {
		return err
	}
	if err := sub.flush(); err != nil {
		return err
	}
	// Its parent is created in the same transaction, so it needs no parent guard.
	return s.emitCreate(c.t, ri, nil)
}

// fillVNSubnets validates the subnets on a network's IPAM refs and fills
// their defaults and subnet_uuids; subnets that existed keep their uuid.
func fillVNSubnets(s *Server, o *model.Object, old *model.Object) error {
	oldUUIDs := map[string]string{} // prefix -> subnet uuid
	if old != nil {
		for _, sn := range s.vnSubnets(s.cache, old) {
			oldUUIDs[sn.Prefix.String()] = sn.UUID
		}
	}
	var all []*ipam.Subnet
	refs := o.Refs["network_ipam_refs"]
	for i := range refs {
		if len(refs[i].Attr) == 0 {
			continue
		}
		v, err := decodeValue(refs[i].Attr)
		if err != nil {
			return badRequest(fmt.Sprintf("network_ipam_refs[%d].attr", i), "malformed JSON")
		}
		m, _ := v.(map[string]any)
		path := fmt.Sprintf("network_ipam_refs[%d].attr", i)
		subs, err := ipam.ParseVnSubnets(path, m)
		if err != nil {
			return ipamErr(err)
		}
		for _, sn := range subs {
			if sn.UUID == "" {
				if u, ok := oldUUIDs[sn.Prefix.String()]; ok {
					sn.UUID = u
				} else {
					sn.UUID = uuid.NewString()
				}
			}
		}
		ipam.FillVnSubnets(m, subs)
		b, _ := json.Marshal(m)
		refs[i].Attr = b
		all = append(all, subs...)
	}
	if err := ipam.CheckSubnetList(all); err != nil {
		return ipamErr(err)
	}
	return nil
}

func ipamErr(err error) error {
	var fe *ipam.FieldError
	if errors.As(err, &fe) {
		return &Error{Kind: ErrBadRequest, Field: fe.Path, Msg: fe.Msg}
	}
	// Overlapping subnets: name the later one, as for a duplicate subnet_uuid.
	var oe *ipam.OverlapError
	if errors.As(err, &oe) && oe.B != nil && oe.B.Path != "" {
		return badRequest(oe.B.Path+".subnet", "%v", err)
	}
	return badRequest("", "%v", err)
}

func vnUpdate(u *updateOp) error {
	if err := u.immutable("virtual_network_network_id"); err != nil {
		return err
	}
	if _, ok := u.d.refs["network_ipam_refs"]; !ok {
		return nil
	}
	if err := fillVNSubnets(u.s, u.o, u.old); err != nil {
		return err
	}
	if err := u.s.claimSubnets(u.t, u.o, u.old, vnOwnSubnets(u.o)); err != nil {
		return err
	}
	// Subnets that go away must not hold addresses.
	return u.s.checkSubnetsEmpty(u.t, "network_ipam_refs", u.s.vnSubnets(u.s.cache, u.old), u.s.vnSubnets(u.s.cache, u.o))
}

// --- security-group ---

func sgCreate(c *createOp) error {
	if !c.internal {
		if _, ok := c.o.Props["security_group_id"]; ok {
			return forbidden("security_group_id", "security_group_id is allocated by the system")
		}
	}
	if v, ok := c.prop("configured_security_group_id").(json.Number); ok {
		if n, _ := v.Int64(); n > 0 {
			c.setProp("security_group_id", v)
			return nil
		}
	}
	s := c.s
	n, key, ok := s.pickID(sgIDPool, func(k string) bool { _, used := s.cache.allocs[k]; return used })
	if !ok {
		return conflict("security_group_id", "no free security group id")
	}
	c.t.reserved = append(c.t.reserved, key)
	c.t.mustBeAbsent(key, nil)
	c.t.put(key, c.o.UUID)
	c.setProp("security_group_id", json.Number(strconv.FormatInt(n, 10)))
	return nil
}

func sgUpdate(u *updateOp) error {
	if _, ok := u.d.props["configured_security_group_id"]; ok {
		return badRequest("configured_security_group_id", "cannot be changed after create")
	}
	return u.immutable("security_group_id")
}

// --- virtual-machine-interface ---

func vmiCreate(c *createOp) error {
	if len(c.o.Refs["virtual_network_refs"]) == 0 && !c.internal {
		return badRequest("virtual_network_refs", "a virtual-machine-interface needs a virtual network ref")
	}
	if v, ok := c.prop("virtual_machine_interface_mac_addresses").(map[string]any); ok {
		if list, ok := v["mac_address"].([]any); ok && len(list) > 0 {
			for i, m := range list {
				str, _ := m.(string)
				mac, err := ipam.ParseMAC(str)
				if err != nil {
					return badRequest(fmt.Sprintf("virtual_machine_interface_mac_addresses.mac_address[%d]", i), "%v", err)
				}
				list[i] = mac
			}
			return nil
		}
	}
	c.setProp("virtual_machine_interface_mac_addresses", map[string]any{"mac_address": []any{ipam.MACFromUUID(c.o.UUID)}})
	return nil
}

func vmiUpdate(u *updateOp) error {
	return u.immutable("virtual_machine_interface_mac_addresses")
}

// --- addresses: instance-ip, floating-ip, alias-ip ---

// addrRequest allocates or reserves an address of a network for o.
type addrRequest struct {
	prop     string // where the address goes
	family   string // "v4", "v6" or "" (any)
	subnet   string // subnet uuid requested, "" for any
	explicit string // requested address, "" to allocate
	pools    map[string]bool
}

func (s *Server) allocAddr(c *createOp, vn *model.Object, req addrRequest) (*ipam.Subnet, netip.Addr, error) {
	subs := s.vnSubnets(s.cache, vn)
	if len(subs) == 0 {
		return nil, netip.Addr{}, badRequest(req.prop, "virtual network %s has no subnets", vn.FQNameString())
	}
	taken := func(sn *ipam.Subnet) func(netip.Addr) bool {
		return func(a netip.Addr) bool {
			k := s.keys.IP(sn.UUID, a.String())
			_, used := s.cache.allocs[k]
			return used || s.alloc.isPending(k)
		}
	}
	if req.explicit != "" {
		a, err := netip.ParseAddr(req.explicit)
		if err != nil {
			return nil, a, badRequest(req.prop, "%q is not an IP address", req.explicit)
		}
		sn := subnetFor(subs, a)
		if sn == nil || (req.subnet != "" && sn.UUID != req.subnet) {
			return nil, a, badRequest(req.prop, "%s is not in a subnet of virtual network %s", a, vn.FQNameString())
		}
		if err := sn.CheckAddr(a, c.internal); err != nil {
			return nil, a, badRequest(req.prop, "%v", err)
		}
		key := s.keys.IP(sn.UUID, a.String())
		if owner, used := s.cache.allocs[key]; used {
			return nil, a, conflict(req.prop, "ip address %s already in use by %s", a, owner)
		}
		if !s.alloc.reserve(key) {
			return nil, a, conflict(req.prop, "ip address %s is being allocated by another request", a)
		}
		c.t.reserved = append(c.t.reserved, key)
		c.t.mustBeAbsent(key, conflict(req.prop, "ip address %s already in use", a))
		c.t.put(key, c.o.UUID)
		return sn, a, nil
	}
	matched := false
	for _, sn := range subs {
		if req.subnet != "" && sn.UUID != req.subnet {
			continue
		}
		if req.pools != nil && !req.pools[sn.UUID] {
			continue
		}
		if req.family == "v4" && !sn.Prefix.Addr().Is4() || req.family == "v6" && sn.Prefix.Addr().Is4() {
			continue
		}
		matched = true
		tk := taken(sn)
		for a := range sn.CandidatesFrom(s.alloc.addrHint(sn.UUID), tk) {
			key := s.keys.IP(sn.UUID, a.String())
			if !s.alloc.reserve(key) {
				continue
			}
			s.alloc.setAddrHint(sn.UUID, a)
			c.t.reserved = append(c.t.reserved, key)
			c.t.mustBeAbsent(key, nil)
			c.t.put(key, c.o.UUID)
			return sn, a, nil
		}
	}
	if !matched {
		if req.subnet != "" {
			return nil, netip.Addr{}, badRequest("subnet_uuid", "subnet %s is not a subnet of virtual network %s", req.subnet, vn.FQNameString())
		}
		return nil, netip.Addr{}, badRequest(req.prop, "virtual network %s has no %s subnet", vn.FQNameString(), req.family)
	}
	return nil, netip.Addr{}, conflict(req.prop, "Virtual-Network(%s) has exhausted subnet(all)", vn.FQNameString())
}

func iipCreate(c *createOp) error {
	refs := c.o.Refs["virtual_network_refs"]
	if len(refs) == 0 {
		return badRequest("virtual_network_refs", "an instance-ip needs a virtual network ref")
	}
	vn := c.s.cache.Get(refs[0].UUID)
	req := addrRequest{prop: "instance_ip_address"}
	if v, ok := c.prop("instance_ip_address").(string); ok {
		req.explicit = v
	}
	if v, ok := c.prop("instance_ip_family").(string); ok {
		req.family = v
	}
	if v, ok := c.prop("subnet_uuid").(string); ok {
		req.subnet = v
	}
	if req.family == "" && req.explicit == "" {
		req.family = "v4"
	}
	sn, a, err := c.s.allocAddr(c, vn.Obj, req)
	if err != nil {
		return err
	}
	c.s.guardSubnets(c.t, vn)
	c.setProp("instance_ip_address", a.String())
	c.setProp("subnet_uuid", sn.UUID)
	if a.Is4() {
		c.setProp("instance_ip_family", "v4")
	} else {
		c.setProp("instance_ip_family", "v6")
	}
	return nil
}

func iipUpdate(u *updateOp) error {
	if err := u.immutable("instance_ip_address"); err != nil {
		return err
	}
	if err := u.immutable("subnet_uuid"); err != nil {
		return err
	}
	if _, ok := u.d.refs["virtual_network_refs"]; ok && !sameRefTargets(u.old.Refs["virtual_network_refs"], u.o.Refs["virtual_network_refs"]) {
		return badRequest("virtual_network_refs", "the network of an instance-ip cannot change")
	}
	return nil
}

func sameRefTargets(a, b []model.Ref) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].UUID != b[i].UUID {
			return false
		}
	}
	return true
}

func poolAddrCreate(c *createOp, prop, familyProp string) error {
	if c.parent == nil {
		return badRequest("parent_type", "%s needs a pool parent", c.o.Type)
	}
	vn := c.s.cache.Get(c.parent.Obj.ParentUUID)
	if vn == nil {
		return badRequest("parent_type", "pool %s has no network", c.parent.Obj.FQNameString())
	}
	req := addrRequest{prop: prop}
	if v, ok := c.prop(prop).(string); ok {
		req.explicit = v
	}
	if v, ok := c.prop(familyProp).(string); ok {
		req.family = v
	}
	if req.family == "" && req.explicit == "" {
		req.family = "v4"
	}
	// A floating-ip pool may restrict the subnets it uses.
	var poolSubnets map[string]any
	if raw, ok := c.parent.Obj.Props["floating_ip_pool_subnets"]; ok {
		v, _ := decodeValue(raw)
		poolSubnets, _ = v.(map[string]any)
	}
	if list, ok := poolSubnets["subnet_uuid"].([]any); ok && len(list) > 0 {
		req.pools = map[string]bool{}
		for _, e := range list {
			if s, ok := e.(string); ok {
				req.pools[s] = true
			}
		}
	}
	_, a, err := c.s.allocAddr(c, vn.Obj, req)
	if err != nil {
		return err
	}
	c.s.guardSubnets(c.t, vn)
	c.setProp(prop, a.String())
	if a.Is4() {
		c.setProp(familyProp, "v4")
	} else {
		c.setProp(familyProp, "v6")
	}
	return nil
}

func fipCreate(c *createOp) error {
	return poolAddrCreate(c, "floating_ip_address", "floating_ip_address_family")
}

func fipUpdate(u *updateOp) error { return u.immutable("floating_ip_address") }

func aliasCreate(c *createOp) error {
	return poolAddrCreate(c, "alias_ip_address", "alias_ip_address_family")
}

func aliasUpdate(u *updateOp) error { return u.immutable("alias_ip_address") }

// --- network-ipam ---

func ipamCreate(c *createOp) error {
	if err := fillIpamSubnets(c.o, nil); err != nil {
		return err
	}
	return c.s.claimSubnets(c.t, c.o, nil, ipamOwnSubnets(c.o))
}

func ipamUpdate(u *updateOp) error {
	if _, ok := u.d.props["ipam_subnets"]; !ok {
		if !slices.Contains(u.d.nulls, "ipam_subnets") {
			return nil
		}
	} else if err := fillIpamSubnets(u.o, u.old); err != nil {
		return err
	}
	if err := u.s.claimSubnets(u.t, u.o, u.old, ipamOwnSubnets(u.o)); err != nil {
		return err
	}
	// Subnets that go away must not hold addresses.
	return u.s.checkSubnetsEmpty(u.t, "ipam_subnets", ipamOwnSubnets(u.old), ipamOwnSubnets(u.o))
}

// fillIpamSubnets validates the ipam_subnets of an IPAM and fills their
// defaults and uuids; subnets that existed in old keep their uuid.
func fillIpamSubnets(o, old *model.Object) error {
	raw, ok := o.Props["ipam_subnets"]
	if !ok {
		return nil
	}
	v, _ := decodeValue(raw)
	m, _ := v.(map[string]any)
	subs, err := ipam.ParseIpamSubnets("ipam_subnets", m)
	if err != nil {
		return ipamErr(err)
	}
	oldUUIDs := map[string]string{} // prefix -> subnet uuid
	if old != nil {
		for _, sn := range ipamOwnSubnets(old) {
			oldUUIDs[sn.Prefix.String()] = sn.UUID
		}
	}
	for _, sn := range subs {
		if sn.UUID == "" {
			if u, ok := oldUUIDs[sn.Prefix.String()]; ok {
				sn.UUID = u
			} else {
				sn.UUID = uuid.NewString()
			}
		}
	}
	ipam.FillIpamSubnets(m, subs)
	b, _ := json.Marshal(m)
	o.Props["ipam_subnets"] = b
	return nil
}

// --- route-target ---

func rtCreate(c *createOp) error {
	name := c.o.Name()
	if err := validRouteTarget(name); err != nil {
		return badRequest("fq_name", "%v", err)
	}
	return nil
}

// validRouteTarget checks "target:<asn|ip>:<number>".
func validRouteTarget(s string) error {
	var a, b string
	var ok bool
	rest, found := cutPrefix(s, "target:")
	if !found {
		return fmt.Errorf("route target %q must look like target:<asn|ip>:<number>", s)
	}
	a, b, ok = cutLast(rest, ":")
	if !ok {
		return fmt.Errorf("route target %q must look like target:<asn|ip>:<number>", s)
	}
	if _, err := strconv.ParseUint(b, 10, 32); err != nil {
		return fmt.Errorf("route target %q: %q is not a number", s, b)
	}
	if _, err := strconv.ParseUint(a, 10, 32); err != nil {
		if _, err := netip.ParseAddr(a); err != nil {
			return fmt.Errorf("route target %q: %q is neither an AS number nor an IP address", s, a)
		}
	}
	return nil
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}

func cutLast(s, sep string) (string, string, bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}
