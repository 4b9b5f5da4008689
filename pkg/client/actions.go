// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"fmt"
	"net/url"
	"sort"
)

// FQNameToID returns the uuid of the object of type typ with fq-name fq
// (POST /fqname-to-id).
func (c *Client) FQNameToID(ctx context.Context, typ string, fq []string) (string, error) {
	if err := checkType(typ); err != nil {
		return "", err
	}
	if len(fq) == 0 {
		return "", fmt.Errorf("client: fqname-to-id %s: empty fq-name", typ)
	}
	var out struct {
		UUID string `json:"uuid"`
	}
	body := map[string]any{"type": typ, "fq_name": fq}
	if err := c.do(ctx, request{method: "POST", path: "/fqname-to-id", body: body, idempotent: true}, &out); err != nil {
		return "", err
	}
	return out.UUID, nil
}

// IDToFQName returns the fq-name and type of the object with the given
// uuid (POST /id-to-fqname).
func (c *Client) IDToFQName(ctx context.Context, uuid string) (fq []string, typ string, err error) {
	var out struct {
		FQName []string `json:"fq_name"`
		Type   string   `json:"type"`
	}
	body := map[string]string{"uuid": uuid}
	if err := c.do(ctx, request{method: "POST", path: "/id-to-fqname", body: body, idempotent: true}, &out); err != nil {
		return nil, "", err
	}
	return out.FQName, out.Type, nil
}

// RefOp is the operation of RefUpdate.
type RefOp string

// The operations of RefUpdate.
const (
	RefAdd    RefOp = "ADD"    // add the ref, or replace its attr if it exists
	RefDelete RefOp = "DELETE" // remove the ref
)

// RefUpdate adds or removes one reference from the object typ/uuid to the
// object refType/refUUID (POST /ref-update), leaving the other refs alone.
// attr is the link attribute for refs that have one (such as the subnets
// of network_ipam_refs), else nil.
func (c *Client) RefUpdate(ctx context.Context, typ, uuid, refType, refUUID string, op RefOp, attr any) error {
	return c.refUpdate(ctx, typ, uuid, refType, refUUID, op, attr, false)
}

// RefAddRelaxed is RefUpdate with RefAdd that also marks the new ref as
// relaxed for delete (see RefRelaxForDelete).
func (c *Client) RefAddRelaxed(ctx context.Context, typ, uuid, refType, refUUID string, attr any) error {
	return c.refUpdate(ctx, typ, uuid, refType, refUUID, RefAdd, attr, true)
}

func (c *Client) refUpdate(ctx context.Context, typ, uuid, refType, refUUID string, op RefOp, attr any, relax bool) error {
	if err := checkIDs(typ, uuid); err != nil {
		return err
	}
	if op != RefAdd && op != RefDelete {
		return fmt.Errorf("client: ref-update: unknown operation %q", op)
	}
	body := map[string]any{
		"type": typ, "uuid": uuid, "ref-type": refType, "ref-uuid": refUUID,
		"operation": string(op), "attr": attr,
	}
	if relax {
		body["relax_ref_for_delete"] = true
	}
	return c.do(ctx, request{method: "POST", path: "/ref-update", body: body}, nil)
}

// RefRelaxForDelete marks the ref from object uuid to refUUID so that it
// does not keep refUUID from being deleted (POST /ref-relax-for-delete).
func (c *Client) RefRelaxForDelete(ctx context.Context, uuid, refUUID string) error {
	body := map[string]string{"uuid": uuid, "ref-uuid": refUUID}
	return c.do(ctx, request{method: "POST", path: "/ref-relax-for-delete", body: body}, nil)
}

// CollectionItem is one element of a list or map property, as
// PropCollectionGet returns it: the element and its position (the index
// of a list element, the key of a map element).
type CollectionItem struct {
	Value    any
	Position string
}

// PropCollectionGet returns the elements of the list or map properties
// fields of an object (GET /prop-collection-get), all such properties if
// fields is empty. A non-empty position returns only the element there.
func (c *Client) PropCollectionGet(ctx context.Context, uuid string, fields []string, position string) (map[string][]CollectionItem, error) {
	q := url.Values{"uuid": {uuid}}
	setList(q, "fields", fields)
	if position != "" {
		q.Set("position", position)
	}
	var out map[string][][2]any
	if err := c.do(ctx, request{method: "GET", path: "/prop-collection-get", query: q, idempotent: true}, &out); err != nil {
		return nil, err
	}
	res := make(map[string][]CollectionItem, len(out))
	for field, items := range out {
		list := make([]CollectionItem, 0, len(items))
		for _, it := range items {
			pos, ok := it[1].(string)
			if !ok && it[1] != nil {
				pos = fmt.Sprint(it[1])
			}
			list = append(list, CollectionItem{Value: it[0], Position: pos})
		}
		res[field] = list
	}
	return res, nil
}

// The operations of a PropUpdate.
const (
	PropAdd    = "add"    // append to a list; add or replace by key in a map
	PropModify = "modify" // replace the element at Position
	PropDelete = "delete" // remove the element at Position
)

// PropUpdate is one change of PropCollectionUpdate.
type PropUpdate struct {
	Field     string `json:"field"`              // the list or map property
	Operation string `json:"operation"`          // PropAdd, PropModify or PropDelete
	Value     any    `json:"value,omitempty"`    // the element, for add and modify
	Position  any    `json:"position,omitempty"` // list index or map key, for modify and delete
}

// PropCollectionUpdate applies updates to list and map properties of an
// object in one write (POST /prop-collection-update).
func (c *Client) PropCollectionUpdate(ctx context.Context, uuid string, updates []PropUpdate) error {
	body := map[string]any{"uuid": uuid, "updates": updates}
	return c.do(ctx, request{method: "POST", path: "/prop-collection-update", body: body}, nil)
}

// UserAgentKVStore stores value under key in the API's key-value store
// for agents (POST /useragent-kv, STORE).
func (c *Client) UserAgentKVStore(ctx context.Context, key, value string) error {
	body := map[string]string{"operation": "STORE", "key": key, "value": value}
	return c.do(ctx, request{method: "POST", path: "/useragent-kv", body: body}, nil)
}

// UserAgentKVRetrieve returns the value stored under key; a missing key
// is an error for which IsNotFound is true.
func (c *Client) UserAgentKVRetrieve(ctx context.Context, key string) (string, error) {
	var out struct {
		Value string `json:"value"`
	}
	body := map[string]string{"operation": "RETRIEVE", "key": key}
	if err := c.do(ctx, request{method: "POST", path: "/useragent-kv", body: body, idempotent: true}, &out); err != nil {
		return "", err
	}
	return out.Value, nil
}

// UserAgentKVDelete removes key from the key-value store.
func (c *Client) UserAgentKVDelete(ctx context.Context, key string) error {
	body := map[string]string{"operation": "DELETE", "key": key}
	return c.do(ctx, request{method: "POST", path: "/useragent-kv", body: body}, nil)
}

// ObjPerms returns the caller's permissions on an object and its perms2
// (GET /obj-perms).
func (c *Client) ObjPerms(ctx context.Context, uuid string) (Object, error) {
	var out Object
	q := url.Values{"uuid": {uuid}}
	if err := c.do(ctx, request{method: "GET", path: "/obj-perms", query: q, idempotent: true}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Chown makes owner (a project uuid) the owner of an object (POST /chown).
func (c *Client) Chown(ctx context.Context, uuid, owner string) error {
	body := map[string]string{"uuid": uuid, "owner": owner}
	return c.do(ctx, request{method: "POST", path: "/chown", body: body}, nil)
}

// Share grants one tenant access to an object.
type Share struct {
	Tenant       string `json:"tenant"`        // "tenant:<project uuid>" or "domain:<domain uuid>"
	TenantAccess int    `json:"tenant_access"` // R=4, W=2, X=1
}

// PermsChange says which parts of an object's perms2 Chmod changes; nil
// fields stay as they are.
type PermsChange struct {
	Owner        *string
	OwnerAccess  *int
	GlobalAccess *int
	Share        *[]Share // replaces the whole share list; an empty list clears it
}

// Chmod changes the perms2 of an object (POST /chmod).
func (c *Client) Chmod(ctx context.Context, uuid string, p PermsChange) error {
	body := map[string]any{"uuid": uuid}
	if p.Owner != nil {
		body["owner"] = *p.Owner
	}
	if p.OwnerAccess != nil {
		body["owner_access"] = *p.OwnerAccess
	}
	if p.GlobalAccess != nil {
		body["global_access"] = *p.GlobalAccess
	}
	if p.Share != nil {
		share := *p.Share
		if share == nil {
			share = []Share{}
		}
		body["share"] = share
	}
	return c.do(ctx, request{method: "POST", path: "/chmod", body: body}, nil)
}

// TagChange is what SetTag does with the tags of one tag type.
type TagChange struct {
	Value        string   `json:"value,omitempty"`         // the single tag of the type (label-like types take AddValues)
	IsGlobal     bool     `json:"is_global,omitempty"`     // the tag is global, not the project's
	AddValues    []string `json:"add_values,omitempty"`    // tags to add
	DeleteValues []string `json:"delete_values,omitempty"` // tags to remove
}

// SetTag changes the tags of an object (POST /set-tag). tags maps a tag
// type ("application", "label", ...) to a change; a nil change removes
// every tag of that type.
func (c *Client) SetTag(ctx context.Context, typ, uuid string, tags map[string]*TagChange) error {
	if err := checkIDs(typ, uuid); err != nil {
		return err
	}
	body := map[string]any{"obj_type": typ, "obj_uuid": uuid}
	for k, v := range tags {
		if k == "obj_type" || k == "obj_uuid" {
			return fmt.Errorf("client: set-tag: invalid tag type %q", k)
		}
		if v == nil {
			body[k] = nil
		} else {
			body[k] = v
		}
	}
	return c.do(ctx, request{method: "POST", path: "/set-tag", body: body}, nil)
}

// IPAlloc reserves count addresses of the virtual network vnUUID without
// creating instance-ips (POST /virtual-network/<uuid>/ip-alloc). subnet
// ("10.1.1.0/24") and family ("v4" or "v6") may be empty. The addresses
// stay taken until IPFree.
func (c *Client) IPAlloc(ctx context.Context, vnUUID string, count int, subnet, family string) ([]string, error) {
	if vnUUID == "" {
		return nil, fmt.Errorf("client: ip-alloc: empty virtual-network uuid")
	}
	body := map[string]any{"count": count}
	if subnet != "" {
		body["subnet"] = subnet
	}
	if family != "" {
		body["family"] = family
	}
	var out struct {
		IPAddr []string `json:"ip_addr"`
	}
	if err := c.do(ctx, request{method: "POST", path: vnAction(vnUUID, "ip-alloc"), body: body}, &out); err != nil {
		return nil, err
	}
	return out.IPAddr, nil
}

// IPFree releases addresses that IPAlloc reserved in the network.
func (c *Client) IPFree(ctx context.Context, vnUUID string, addrs []string) error {
	if vnUUID == "" {
		return fmt.Errorf("client: ip-free: empty virtual-network uuid")
	}
	body := map[string]any{"ip_addr": addrs}
	return c.do(ctx, request{method: "POST", path: vnAction(vnUUID, "ip-free"), body: body}, nil)
}

// SubnetIPCount returns, for each subnet ("10.1.1.0/24") of the network,
// how many of its addresses are in use, in the order of subnets.
func (c *Client) SubnetIPCount(ctx context.Context, vnUUID string, subnets []string) ([]int64, error) {
	if vnUUID == "" {
		return nil, fmt.Errorf("client: subnet-ip-count: empty virtual-network uuid")
	}
	body := map[string]any{"subnet_list": subnets}
	var out struct {
		Counts []int64 `json:"ip_count_list"`
	}
	err := c.do(ctx, request{method: "POST", path: vnAction(vnUUID, "subnet-ip-count"), body: body, idempotent: true}, &out)
	if err != nil {
		return nil, err
	}
	return out.Counts, nil
}

func vnAction(uuid, action string) string {
	return typePath("virtual-network", uuid) + "/" + action
}

// Link is one entry of the API's home page.
type Link struct {
	Rel    string // "root", "collection", "resource-base" or "action"
	Href   string
	Name   string // resource type or action name
	Method string // for actions: the HTTP method
}

// Links returns the links of the API's home page (GET /).
func (c *Client) Links(ctx context.Context) ([]Link, error) {
	var out struct {
		Links []struct {
			Link struct {
				Rel    string `json:"rel"`
				Href   string `json:"href"`
				Name   string `json:"name"`
				Method any    `json:"method"`
			} `json:"link"`
		} `json:"links"`
	}
	if err := c.do(ctx, request{method: "GET", path: "/", idempotent: true}, &out); err != nil {
		return nil, err
	}
	links := make([]Link, 0, len(out.Links))
	for _, l := range out.Links {
		m, _ := l.Link.Method.(string)
		links = append(links, Link{Rel: l.Link.Rel, Href: l.Link.Href, Name: l.Link.Name, Method: m})
	}
	return links, nil
}

// ResourceTypes returns the sorted names of the resource types the server
// knows, from its home page.
func (c *Client) ResourceTypes(ctx context.Context) ([]string, error) {
	links, err := c.Links(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var types []string
	for _, l := range links {
		if l.Rel == "resource-base" && l.Name != "" && !seen[l.Name] {
			seen[l.Name] = true
			types = append(types, l.Name)
		}
	}
	sort.Strings(types)
	return types, nil
}
