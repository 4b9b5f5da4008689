// SPDX-License-Identifier: Apache-2.0

package store

import "strings"

// Keys builds every etcd key the config store uses. The layout, under Prefix:
//
//	obj/<type>/<uuid>                      the object (model.Object as JSON)
//	fq/<type>/<fq-name>                    fq-name index -> uuid
//	uuid/<uuid>                            uuid index -> type
//	ref/<to-uuid>/<from-type>/<from-uuid>  back-reference index (blocks delete of <to>)
//	relaxed/<to-uuid>/<from-type>/<from-uuid>  back-reference that does not block delete
//	child/<parent-uuid>/<type>/<uuid>      parent-child index
//	id/<pool>/<n>                          allocated IDs -> owner uuid
//	ip/<vn-uuid>/<address>                 allocated addresses -> owner uuid
//	seq/<parent-uuid>/<type>               bumped on every create/delete of <type> under parent (quota guard)
//	kv/<key>                               useragent key-value store
//
// Fq-name components are escaped so that ':' and '/' inside a name cannot
// collide with the separators.
type Keys struct{ Prefix string }

// Objects is the prefix of all objects; the config watch watches it.
func (k Keys) Objects() string { return k.Prefix + "obj/" }

// ObjectsOf is the prefix of all objects of one type.
func (k Keys) ObjectsOf(typ string) string { return k.Prefix + "obj/" + typ + "/" }

// Object is the key of one object.
func (k Keys) Object(typ, uuid string) string { return k.Prefix + "obj/" + typ + "/" + uuid }

// FQName is the key of the fq-name index entry.
func (k Keys) FQName(typ string, fq []string) string {
	var b strings.Builder
	b.WriteString(k.Prefix)
	b.WriteString("fq/")
	b.WriteString(typ)
	b.WriteByte('/')
	for i, c := range fq {
		if i > 0 {
			b.WriteByte(':')
		}
		escapeInto(&b, c)
	}
	return b.String()
}

// UUID is the key of the uuid index entry.
func (k Keys) UUID(uuid string) string { return k.Prefix + "uuid/" + uuid }

// BackRef is the index entry that records a reference from (fromType, from) to to.
func (k Keys) BackRef(to, fromType, from string) string {
	return k.Prefix + "ref/" + to + "/" + fromType + "/" + from
}

// BackRefs is the prefix of every blocking back-reference to uuid.
func (k Keys) BackRefs(to string) string { return k.Prefix + "ref/" + to + "/" }

// RelaxedRef is a back-reference that does not block deleting to.
func (k Keys) RelaxedRef(to, fromType, from string) string {
	return k.Prefix + "relaxed/" + to + "/" + fromType + "/" + from
}

// RelaxedRefs is the prefix of every relaxed back-reference to uuid.
func (k Keys) RelaxedRefs(to string) string { return k.Prefix + "relaxed/" + to + "/" }

// Child is the parent-child index entry.
func (k Keys) Child(parent, typ, uuid string) string {
	return k.Prefix + "child/" + parent + "/" + typ + "/" + uuid
}

// Children is the prefix of every child of parent.
func (k Keys) Children(parent string) string { return k.Prefix + "child/" + parent + "/" }

// ChildrenOf is the prefix of the children of one type.
func (k Keys) ChildrenOf(parent, typ string) string {
	return k.Prefix + "child/" + parent + "/" + typ + "/"
}

// ID is the key of an allocated ID in a pool ("virtual-network", "security-group", ...).
func (k Keys) ID(pool string, n string) string { return k.Prefix + "id/" + pool + "/" + n }

// IDs is the prefix of one ID pool.
func (k Keys) IDs(pool string) string { return k.Prefix + "id/" + pool + "/" }

// IP is the key of an allocated address in a network.
func (k Keys) IP(vn, addr string) string { return k.Prefix + "ip/" + vn + "/" + addr }

// IPs is the prefix of every allocated address in a network.
func (k Keys) IPs(vn string) string { return k.Prefix + "ip/" + vn + "/" }

// IPScope returns the scope (subnet uuid) of an address key.
func (k Keys) IPScope(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, k.Prefix+"ip/")
	if !ok {
		return "", false
	}
	scope, _, ok := strings.Cut(rest, "/")
	return scope, ok
}

// Seq is the per-parent, per-type sequence key used to guard quota checks.
func (k Keys) Seq(parent, typ string) string { return k.Prefix + "seq/" + parent + "/" + typ }

// KV is a useragent key-value entry.
func (k Keys) KV(key string) string {
	var b strings.Builder
	b.WriteString(k.Prefix)
	b.WriteString("kv/")
	escapeInto(&b, key)
	return b.String()
}

// SplitObject parses an object key into type and uuid.
func (k Keys) SplitObject(key string) (typ, uuid string, ok bool) {
	rest, found := strings.CutPrefix(key, k.Prefix+"obj/")
	if !found {
		return "", "", false
	}
	typ, uuid, ok = strings.Cut(rest, "/")
	return typ, uuid, ok
}

func escapeInto(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case ':', '/', '%':
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
}
