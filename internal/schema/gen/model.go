// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// notes collects the schema oddities found while generating. They end up in
// the header of the generated file and, with -v, on stderr.
type notes struct{ list []string }

func (n *notes) addf(format string, a ...any) { n.list = append(n.list, fmt.Sprintf(format, a...)) }

// gType is the generator's view of a schema type.
type gType struct {
	name     string // XSD name, "" for built-ins
	base     string // XSD built-in this type is or derives from
	kind     string // name of the schema.Kind constant
	enum     []string
	hasMin   bool
	hasMax   bool
	min, max int64
	unsigned bool
	fields   []*gField
	varName  string

	simple    *simpleDef
	complex   *complexDef
	resolved  bool
	resolving bool
}

type gField struct {
	name     string
	typ      *gType
	list     bool
	required bool
	def      string
	enforce  bool
}

type gProp struct {
	name     string // JSON name
	elem     string // XSD element name
	typ      *gType
	kind     string // PropPlain, PropList, PropMap
	mapKey   string
	required string
	ops      string
	def      string
	order    int
}

type gLink struct {
	name     string
	from, to string
	has      bool
	ref      bool
	derived  bool
	attr     *gType
	required string
	ops      string
	order    int
}

type gResource struct {
	name     string
	root     bool
	props    []*gProp
	children []*gLink
	refs     []*gLink
	parents  []*gLink
	backRefs []*gLink
	varName  string
}

type model struct {
	x         *xsdSet
	notes     *notes
	types     map[string]*gType // named types by XSD name
	builtins  map[string]*gType // by XSD built-in name
	resources map[string]*gResource
	resList   []*gResource // sorted by name
	enforced  []string     // "Type.field" of enforced required fields
	exempted  []string     // "Type.field" of required fields left unenforced
}

type builtinSpec struct {
	kind           string
	hasMin, hasMax bool
	min, max       int64
	unsigned       bool
}

// builtinSpecs maps XSD built-in type names to their JSON shape.
var builtinSpecs = map[string]builtinSpec{
	"string":             {kind: "KindString"},
	"normalizedString":   {kind: "KindString"},
	"token":              {kind: "KindString"},
	"anyURI":             {kind: "KindString"},
	"hexBinary":          {kind: "KindString"},
	"base64Binary":       {kind: "KindString"},
	"date":               {kind: "KindString"},
	"duration":           {kind: "KindString"},
	"NMTOKEN":            {kind: "KindString"},
	"Name":               {kind: "KindString"},
	"NCName":             {kind: "KindString"},
	"language":           {kind: "KindString"},
	"integer":            {kind: "KindInteger"},
	"long":               {kind: "KindInteger"},
	"int":                {kind: "KindInteger"},
	"short":              {kind: "KindInteger", hasMin: true, min: -32768, hasMax: true, max: 32767},
	"byte":               {kind: "KindInteger", hasMin: true, min: -128, hasMax: true, max: 127},
	"nonPositiveInteger": {kind: "KindInteger", hasMax: true, max: 0},
	"negativeInteger":    {kind: "KindInteger", hasMax: true, max: -1},
	"unsignedLong":       {kind: "KindInteger", hasMin: true, min: 0, unsigned: true},
	"nonNegativeInteger": {kind: "KindInteger", hasMin: true, min: 0, unsigned: true},
	"positiveInteger":    {kind: "KindInteger", hasMin: true, min: 1, unsigned: true},
	"unsignedInt":        {kind: "KindInteger", hasMin: true, min: 0, hasMax: true, max: 4294967295},
	"unsignedShort":      {kind: "KindInteger", hasMin: true, min: 0, hasMax: true, max: 65535},
	"unsignedByte":       {kind: "KindInteger", hasMin: true, min: 0, hasMax: true, max: 255},
	"boolean":            {kind: "KindBoolean"},
	"dateTime":           {kind: "KindDateTime"},
	"time":               {kind: "KindTime"},
	"double":             {kind: "KindNumber"},
	"float":              {kind: "KindNumber"},
	"decimal":            {kind: "KindNumber"},
	"anyType":            {kind: "KindAny"},
	"anySimpleType":      {kind: "KindAny"},
}

// enforceExempt lists the complex types whose required='true' fields are not
// enforced by the validator although they have no XSD default. The original
// API server never enforced required fields inside complex types, and its
// Python client (vnc_api) serializes every attribute of a property object,
// sending null for the ones the caller did not set (list attributes default to
// [] and so are always present). The types below are ones where normal client
// traffic, or objects the system itself creates, leave required scalar fields
// unset; the value is the reason, copied into the generated file.
var enforceExempt = map[string]string{
	"AclRuleType":                  "ACL entries are written by the system and by clients with partial match conditions",
	"ActionListType":               "service-chain and mirror rules send apply_service or mirror_to without simple_action",
	"BgpRouterParams":              "the server defaults autonomous_system and identifier; BGPaaS and device routers send partial parameters",
	"BgpSession":                   "clients send BgpSession(attributes=[...]) without a session uuid",
	"DhcpOptionType":               "clients send name and value only; dhcp_option_value_bytes is almost never set",
	"IdPermsType":                  "vnc_api sends IdPermsType(enable=True) and the like with uuid null; the server fills uuid",
	"IpamSubnetType":               "flat-subnet IPAMs and VN refs to them carry ipam_subnets entries without subnet",
	"MatchConditionType":           "see AclRuleType; ethertype and ports are often left unset",
	"MirrorActionType":             "mirror_to is sent with analyzer_name only; analyzer_ip_address and routing_instance are filled by the system",
	"PermType2":                    "clients send perms2 with share/global_access only; the server fills owner",
	"PolicyRuleType":               "network-policy and security-group rules are routinely sent without ethertype, direction or protocol defaults",
	"ServiceInstanceInterfaceType": "service instances (SNAT, port-tuple v2) list interfaces without virtual_network",
	"VirtualNetworkType":           "vxlan_network_identifier is allocated by the system; clients send forwarding_mode and the like only",
}

func newModel(x *xsdSet) *model {
	m := &model{
		x:         x,
		notes:     x.notes,
		types:     map[string]*gType{},
		builtins:  map[string]*gType{},
		resources: map[string]*gResource{},
	}
	return m
}

func (m *model) builtin(name string) *gType {
	if t, ok := m.builtins[name]; ok {
		return t
	}
	spec, ok := builtinSpecs[name]
	if !ok {
		return nil
	}
	t := &gType{base: name, kind: spec.kind, hasMin: spec.hasMin, hasMax: spec.hasMax,
		min: spec.min, max: spec.max, unsigned: spec.unsigned, resolved: true}
	m.builtins[name] = t
	return t
}

func (m *model) anyType() *gType { return m.builtin("anyType") }

func splitPrefix(s string) (prefix, local string) {
	if i := strings.IndexByte(s, ':'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "", s
}

// typeRef resolves a type name as written in a type= or base= attribute.
func (m *model) typeRef(raw, where string) *gType {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		m.notes.addf("%s: empty type name, using anyType", where)
		return m.anyType()
	}
	prefix, local := splitPrefix(raw)
	if prefix == "xsd" || prefix == "xs" {
		if t := m.builtin(local); t != nil {
			return t
		}
		m.notes.addf("%s: unknown XSD built-in %q, using anyType", where, raw)
		return m.anyType()
	}
	if t, ok := m.types[local]; ok {
		m.resolve(t)
		return t
	}
	if t := m.builtin(local); t != nil {
		m.notes.addf("%s: type %q is not declared; taken as the XSD built-in xsd:%s", where, raw, local)
		return t
	}
	m.notes.addf("%s: type %q cannot be resolved, using anyType", where, raw)
	return m.anyType()
}

// buildTypes creates the named types and resolves them.
func (m *model) buildTypes() {
	for _, name := range sortedKeys(m.x.simple) {
		m.types[name] = &gType{name: name, simple: m.x.simple[name]}
	}
	for _, name := range sortedKeys(m.x.complex) {
		if _, dup := m.types[name]; dup {
			m.notes.addf("type %q is both a simple and a complex type; using the simple type", name)
			continue
		}
		m.types[name] = &gType{name: name, complex: m.x.complex[name], kind: "KindComplex"}
	}
	for _, name := range sortedKeys(m.types) {
		m.resolve(m.types[name])
	}
}

func (m *model) resolve(t *gType) {
	if t.resolved {
		return
	}
	if t.resolving {
		if t.simple != nil {
			m.notes.addf("%s:%d: simple type %q derives from itself", t.simple.file, t.simple.line, t.name)
			t.kind = "KindAny"
		}
		return
	}
	t.resolving = true
	defer func() { t.resolving = false; t.resolved = true }()
	if d := t.simple; d != nil {
		m.resolveSimple(t, d)
		return
	}
	c := t.complex
	seen := map[string]bool{}
	for _, fd := range c.fields {
		where := fmt.Sprintf("%s:%d: field %q of %s", c.file, fd.line, fd.name, c.name)
		if fd.name == "" {
			m.notes.addf("%s: element without name ignored", where)
			continue
		}
		f := &gField{name: jsonName(fd.name), required: fd.required == "true", def: fd.def}
		if seen[f.name] {
			m.notes.addf("%s: duplicate field name %q; keeping the first", where, f.name)
			continue
		}
		seen[f.name] = true
		switch {
		case !fd.hasType:
			m.notes.addf("%s: no type attribute, accepting any JSON value", where)
			f.typ = m.anyType()
		default:
			f.typ = m.typeRef(fd.typ, where)
		}
		switch mo := fd.maxOccurs; mo {
		case "", "0", "1":
		case "unbounded":
			f.list = true
		default:
			n, err := strconv.Atoi(mo)
			if err != nil {
				m.notes.addf("%s: bad maxOccurs %q", where, mo)
			}
			f.list = n > 1
		}
		t.fields = append(t.fields, f)
	}
}

func (m *model) resolveSimple(t *gType, d *simpleDef) {
	where := fmt.Sprintf("%s:%d: simple type %s", d.file, d.line, d.name)
	if len(d.union) > 0 {
		t.kind = "KindAny"
		m.notes.addf("%s: union of %s; accepted as any JSON value", where, strings.Join(d.union, ", "))
		return
	}
	if d.base == "" {
		m.notes.addf("%s: no restriction base, accepting any JSON value", where)
		t.kind = "KindAny"
		return
	}
	b := m.typeRef(d.base, where)
	if b.kind == "KindComplex" {
		m.notes.addf("%s: restriction of complex type %q", where, d.base)
	}
	t.kind, t.base, t.unsigned = b.kind, b.base, b.unsigned
	t.hasMin, t.min, t.hasMax, t.max = b.hasMin, b.min, b.hasMax, b.max
	t.enum = append([]string(nil), b.enum...)
	if len(d.enums) > 0 {
		if t.kind != "KindString" {
			m.notes.addf("%s: enumeration on a %s base is not enforced", where, t.kind)
		}
		t.enum = append([]string(nil), d.enums...)
	}
	for _, lim := range []struct {
		v   string
		max bool
	}{{d.min, false}, {d.max, true}} {
		if lim.v == "" {
			continue
		}
		if t.kind != "KindInteger" {
			m.notes.addf("%s: range facet on a %s base is not enforced", where, t.kind)
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(lim.v), 10, 64)
		if err != nil {
			m.notes.addf("%s: range value %q is not an int64; ignored", where, lim.v)
			continue
		}
		if lim.max {
			if t.hasMax && n > t.max {
				m.notes.addf("%s: maxInclusive %d is above the maximum %d of its base %s; keeping the base maximum", where, n, t.max, d.base)
				continue
			}
			t.hasMax, t.max = true, n
		} else {
			if t.hasMin && n < t.min {
				m.notes.addf("%s: minInclusive %d is below the minimum %d of its base %s; keeping the base minimum", where, n, t.min, d.base)
				continue
			}
			t.hasMin, t.min = true, n
		}
	}
	// xsd:pattern facets are not enforced: the original API server checks
	// none of them either (d.pattern only records their presence).
}

var (
	requiredValues = map[string]bool{"required": true, "optional": true, "system-only": true, "admin-only": true}
	opsRe          = regexp.MustCompile(`^C?R?U?D?$`)
)

// reqOps extracts the (required, operations) arguments of a Property or Link
// statement from args, the arguments that follow the element and identifier
// names. It repairs a missing comma between two string literals and falls
// back to "optional", "CRUD" when the arguments are missing or malformed,
// noting each repair.
func (m *model) reqOps(st *stmt, args []arg, what string) (required, ops string) {
	// Flatten the positional string arguments, splitting literals that
	// Python would have glued together when one of them is a keyword.
	var vals []string
	for i, a := range args {
		if a.isList {
			if i < 2 {
				m.notes.addf("%s: %s: unexpected list argument", st.where(), what)
			}
			break // a description given as a list ends the interesting part
		}
		if len(a.parts) > 1 && i < 2 {
			first := a.parts[0]
			if (i == 0 && requiredValues[first]) || (i == 1 && first != "" && opsRe.MatchString(first)) {
				m.notes.addf("%s: %s: adjacent literals %q (missing comma) taken as separate arguments", st.where(), what, a.parts)
				vals = append(vals, a.parts...)
				continue
			}
		}
		vals = append(vals, a.str())
	}
	required, ops = "optional", "CRUD"
	switch {
	case len(vals) == 0:
		m.notes.addf("%s: %s: no required/operations arguments; using optional, CRUD", st.where(), what)
		return
	case !requiredValues[vals[0]]:
		m.notes.addf("%s: %s: %q is not a valid required value (probably a description); using optional, CRUD", st.where(), what, abbrev(vals[0]))
		return
	}
	required = vals[0]
	if len(vals) < 2 {
		m.notes.addf("%s: %s: no operations argument; using CRUD", st.where(), what)
		return
	}
	if vals[1] == "" || !opsRe.MatchString(vals[1]) {
		m.notes.addf("%s: %s: %q is not a valid operations value; using CRUD", st.where(), what, abbrev(vals[1]))
		return
	}
	ops = vals[1]
	return
}

func abbrev(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func stripPrefix(s string) string {
	_, local := splitPrefix(strings.TrimSpace(s))
	return local
}

// buildResources creates the resources and attaches the IDL statements.
func (m *model) buildResources() error {
	for _, e := range m.x.elemList {
		if prefix, local := splitPrefix(e.typ); local == "IdentityType" && (prefix == "ifmap" || prefix == "") {
			m.resources[e.name] = &gResource{name: e.name, root: e.name == "config-root"}
		}
	}
	if m.resources["config-root"] == nil {
		return fmt.Errorf("no config-root identifier in the schema")
	}

	// Exclude statements: 'backend' means the C++ control-node code; 'frontend'
	// the Python API (client and server), which is what we implement.
	frontendExcluded := map[string]bool{}
	var backendOnly []string
	for _, st := range m.x.stmts {
		if st.fn != "Exclude" {
			continue
		}
		if len(st.args) < 2 || !st.args[1].isList {
			m.notes.addf("%s: malformed Exclude statement", st.where())
			continue
		}
		elem := stripPrefix(st.args[0].str())
		gens := st.args[1].list
		if contains(gens, "frontend") {
			frontendExcluded[elem] = true
			m.notes.addf("%s: Exclude(%q, %v): not part of the API, dropped", st.where(), elem, gens)
		} else {
			backendOnly = append(backendOnly, elem)
		}
	}
	if len(backendOnly) > 0 {
		m.notes.addf("Exclude(..., ['backend']) only concerns the control-node code generator; kept: %s", strings.Join(backendOnly, ", "))
	}

	var allProps []*gProp
	var allLinks []*gLink
	for _, st := range m.x.stmts {
		switch st.fn {
		case "Exclude":
			continue
		case "Property", "ListProperty", "MapProperty":
			p, ident, ok := m.propStmt(st, frontendExcluded)
			if !ok {
				continue
			}
			if ident == "all" {
				allProps = append(allProps, p)
				continue
			}
			m.addProp(m.resources[ident], p, st)
		case "Link":
			l, ok := m.linkStmt(st, frontendExcluded)
			if !ok {
				continue
			}
			if l.from == "all" {
				allLinks = append(allLinks, l)
				continue
			}
			m.addLink(l, st)
		default:
			m.notes.addf("%s: statement %s(...) ignored", st.where(), st.fn)
		}
	}

	for _, name := range sortedKeys(m.resources) {
		m.resList = append(m.resList, m.resources[name])
	}
	for _, r := range m.resList {
		for _, p := range allProps {
			cp := *p
			m.addProp(r, &cp, nil)
		}
		for _, l := range allLinks {
			cl := *l
			cl.from = r.name
			m.addLink(&cl, nil)
		}
	}

	// Parents and back-refs, and plain sanity checks.
	for _, r := range m.resList {
		for _, l := range r.children {
			m.resources[l.to].parents = append(m.resources[l.to].parents, l)
		}
		for _, l := range r.refs {
			m.resources[l.to].backRefs = append(m.resources[l.to].backRefs, l)
		}
	}
	var orphans []string
	for _, r := range m.resList {
		if !r.root && len(r.parents) == 0 {
			orphans = append(orphans, r.name)
		}
		m.checkJSONKeys(r)
	}
	if len(orphans) > 0 {
		m.notes.addf("resources without any parent link: %s", strings.Join(orphans, ", "))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (m *model) propStmt(st *stmt, excluded map[string]bool) (*gProp, string, bool) {
	what := st.fn
	min := 2
	if st.fn == "MapProperty" {
		min = 3
	}
	if len(st.args) < min {
		m.notes.addf("%s: %s with %d arguments ignored", st.where(), st.fn, len(st.args))
		return nil, "", false
	}
	elem := stripPrefix(st.args[0].str())
	ident := stripPrefix(st.args[1].str())
	what = fmt.Sprintf("%s(%q, %q)", st.fn, elem, ident)
	if excluded[elem] {
		return nil, "", false
	}
	if ident != "all" && m.resources[ident] == nil {
		m.notes.addf("%s: %s: %q is not a resource type; ignored", st.where(), what, ident)
		return nil, "", false
	}
	e := m.x.elems[elem]
	if e == nil {
		m.notes.addf("%s: %s: no top-level element %q declares its type; ignored", st.where(), what, elem)
		return nil, "", false
	}
	p := &gProp{name: jsonName(elem), elem: elem, kind: "PropPlain", def: e.def, order: st.order}
	rest := st.args[2:]
	switch st.fn {
	case "ListProperty":
		p.kind = "PropList"
	case "MapProperty":
		p.kind = "PropMap"
		p.mapKey = jsonName(st.args[2].str())
		rest = st.args[3:]
	}
	p.required, p.ops = m.reqOps(st, rest, what)
	where := fmt.Sprintf("%s:%d: element %s", e.file, e.line, elem)
	if !e.hasType {
		m.notes.addf("%s: %s: element has no type, accepting any JSON value", st.where(), what)
		p.typ = m.anyType()
	} else {
		p.typ = m.typeRef(e.typ, where)
	}
	if p.kind != "PropPlain" {
		lf := listFieldOf(p.typ)
		switch {
		case lf == nil:
			m.notes.addf("%s: %s: type %s has no single list field; stored as a plain property", st.where(), what, p.typ.name)
			p.kind = "PropPlain"
			p.mapKey = ""
		case p.kind == "PropMap" && lf.typ.kind == "KindComplex" && fieldByName(lf.typ, p.mapKey) == nil:
			m.notes.addf("%s: %s: key field %q not found in %s", st.where(), what, p.mapKey, lf.typ.name)
		}
	}
	return p, ident, true
}

func listFieldOf(t *gType) *gField {
	if t.kind != "KindComplex" {
		return nil
	}
	var lf *gField
	for _, f := range t.fields {
		if f.list {
			if lf != nil {
				return nil
			}
			lf = f
		}
	}
	return lf
}

func fieldByName(t *gType, n string) *gField {
	for _, f := range t.fields {
		if f.name == n {
			return f
		}
	}
	return nil
}

func (m *model) addProp(r *gResource, p *gProp, st *stmt) {
	for _, old := range r.props {
		if old.name == p.name {
			where := "common property"
			if st != nil {
				where = st.where()
			}
			m.notes.addf("%s: property %q declared twice on %s; keeping the first", where, p.name, r.name)
			return
		}
	}
	r.props = append(r.props, p)
}

func (m *model) linkStmt(st *stmt, excluded map[string]bool) (*gLink, bool) {
	if len(st.args) < 4 || !st.args[3].isList {
		m.notes.addf("%s: malformed Link statement ignored", st.where())
		return nil, false
	}
	l := &gLink{
		name:  stripPrefix(st.args[0].str()),
		from:  stripPrefix(st.args[1].str()),
		to:    stripPrefix(st.args[2].str()),
		order: st.order,
	}
	what := fmt.Sprintf("Link(%q, %q, %q)", l.name, l.from, l.to)
	if excluded[l.name] {
		return nil, false
	}
	for _, k := range st.args[3].list {
		switch k {
		case "has":
			l.has = true
		case "ref":
			l.ref = true
		case "derived":
			l.derived = true
		default:
			m.notes.addf("%s: %s: unknown link kind %q", st.where(), what, k)
		}
	}
	if l.has == l.ref {
		m.notes.addf("%s: %s with kinds %v is neither a parent nor a reference link; ignored", st.where(), what, st.args[3].list)
		return nil, false
	}
	if l.from != "all" && m.resources[l.from] == nil || m.resources[l.to] == nil {
		m.notes.addf("%s: %s: endpoint is not a resource type; ignored", st.where(), what)
		return nil, false
	}
	l.required, l.ops = m.reqOps(st, st.args[4:], what)
	e := m.x.elems[l.name]
	switch {
	case e == nil:
		m.notes.addf("%s: %s: link element is not declared", st.where(), what)
	case e.hasType && e.typ != "":
		if l.has {
			m.notes.addf("%s: %s: parent link with attribute type %s; attribute ignored", st.where(), what, e.typ)
		} else {
			l.attr = m.typeRef(e.typ, fmt.Sprintf("%s:%d: element %s", e.file, e.line, e.name))
		}
	}
	return l, true
}

func (m *model) addLink(l *gLink, st *stmt) {
	where := "common link"
	if st != nil {
		where = st.where()
	}
	r := m.resources[l.from]
	list := &r.refs
	if l.has {
		list = &r.children
	}
	for _, old := range *list {
		if old.to == l.to {
			kind, field := "ref", jsonName(l.to)+"_refs"
			if l.has {
				kind, field = "parent", jsonName(l.to)+"s"
			}
			m.notes.addf("%s: two %s links from %s to %s (%s and %s) share the JSON field %s; keeping the first declared (%s)",
				where, kind, l.from, l.to, old.name, l.name, field, old.name)
			return
		}
	}
	*list = append(*list, l)
}

// checkJSONKeys reports JSON key collisions between the fields of a resource.
func (m *model) checkJSONKeys(r *gResource) {
	seen := map[string]string{}
	add := func(k, what string) {
		if old, ok := seen[k]; ok {
			m.notes.addf("resource %s: JSON key %q used by %s and %s", r.name, k, old, what)
			return
		}
		seen[k] = what
	}
	for _, k := range []string{"uuid", "name", "fq_name", "parent_type", "parent_uuid", "href"} {
		add(k, "the common field "+k)
	}
	for _, p := range r.props {
		add(p.name, "property "+p.elem)
	}
	for _, l := range r.refs {
		add(jsonName(l.to)+"_refs", "ref link "+l.name)
	}
	for _, l := range r.backRefs {
		add(jsonName(l.from)+"_back_refs", "back-ref link "+l.name)
	}
	for _, l := range r.children {
		add(jsonName(l.to)+"s", "child link "+l.name)
	}
}

// decideEnforcement sets gField.enforce: required='true', no XSD default, and
// the containing type is not in enforceExempt.
func (m *model) decideEnforcement() {
	for _, name := range sortedKeys(m.types) {
		t := m.types[name]
		for _, f := range t.fields {
			if !f.required || f.def != "" {
				continue
			}
			id := t.name + "." + f.name
			if _, ok := enforceExempt[t.name]; ok {
				m.exempted = append(m.exempted, id)
				continue
			}
			f.enforce = true
			m.enforced = append(m.enforced, id)
		}
	}
	for _, name := range sortedKeys(enforceExempt) {
		t, ok := m.types[name]
		if !ok {
			m.notes.addf("enforceExempt names unknown type %s", name)
			continue
		}
		stale := true
		for _, f := range t.fields {
			if f.required && f.def == "" {
				stale = false
			}
		}
		if stale {
			m.notes.addf("enforceExempt names %s, which has no required field without default", name)
		}
	}
}

func jsonName(s string) string { return strings.ReplaceAll(s, "-", "_") }

func sortedKeys[V any](mp map[string]V) []string {
	keys := make([]string, 0, len(mp))
	for k := range mp {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
