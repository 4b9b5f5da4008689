// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// Create creates an object of type typ (hyphenated, such as
// "virtual-network") by POST /<typ>s with the body {"<typ>": obj}. obj
// needs "fq_name" and, below the top level, "parent_type"; "uuid" is
// optional. Create returns what the server answers: the new object's
// identity (uuid, name, fq_name, href, parent_*) and the properties it set
// itself, such as virtual_network_network_id or instance_ip_address.
func (c *Client) Create(ctx context.Context, typ string, obj Object) (Object, error) {
	if err := checkType(typ); err != nil {
		return nil, err
	}
	var out map[string]Object
	err := c.do(ctx, request{method: "POST", path: collectionPath(typ), body: map[string]Object{typ: obj}}, &out)
	if err != nil {
		return nil, err
	}
	return unwrap(out, typ, "POST", collectionPath(typ))
}

// ReadOption restricts what Read returns.
type ReadOption struct{ key, value string }

// ReadFields asks for only the named fields (properties, refs, back-refs
// or children), besides the identity fields that are always there.
func ReadFields(fields ...string) ReadOption {
	return ReadOption{"fields", strings.Join(fields, ",")}
}

// ExcludeBackRefs leaves out the <type>_back_refs lists.
func ExcludeBackRefs() ReadOption { return ReadOption{"exclude_back_refs", "true"} }

// ExcludeChildren leaves out the children lists.
func ExcludeChildren() ReadOption { return ReadOption{"exclude_children", "true"} }

// ExcludeHrefs leaves out every "href" and "parent_href".
func ExcludeHrefs() ReadOption { return ReadOption{"exclude_hrefs", "true"} }

// Read returns the object of type typ with the given uuid (GET
// /<typ>/<uuid>). A missing object is an error for which IsNotFound is
// true.
func (c *Client) Read(ctx context.Context, typ, uuid string, opts ...ReadOption) (Object, error) {
	if err := checkIDs(typ, uuid); err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, o := range opts {
		if o.key != "" && o.value != "" {
			q.Set(o.key, o.value)
		}
	}
	path := typePath(typ, uuid)
	var out map[string]Object
	if err := c.do(ctx, request{method: "GET", path: path, query: q, idempotent: true}, &out); err != nil {
		return nil, err
	}
	return unwrap(out, typ, "GET", path)
}

// ReadByFQName resolves fq with FQNameToID and reads that object.
func (c *Client) ReadByFQName(ctx context.Context, typ string, fq []string, opts ...ReadOption) (Object, error) {
	id, err := c.FQNameToID(ctx, typ, fq)
	if err != nil {
		return nil, err
	}
	return c.Read(ctx, typ, id, opts...)
}

// Update changes the fields present in obj (PUT /<typ>/<uuid>); fields not
// in obj keep their value. A <ref>_refs list in obj replaces all refs of
// that type; RefUpdate adds or removes a single one. A field set to nil is
// cleared.
func (c *Client) Update(ctx context.Context, typ, uuid string, obj Object) error {
	if err := checkIDs(typ, uuid); err != nil {
		return err
	}
	return c.do(ctx, request{method: "PUT", path: typePath(typ, uuid), body: map[string]Object{typ: obj}}, nil)
}

// Delete deletes the object (DELETE /<typ>/<uuid>). The server refuses
// with 409 (IsConflict) while the object has children or is referred to.
func (c *Client) Delete(ctx context.Context, typ, uuid string) error {
	if err := checkIDs(typ, uuid); err != nil {
		return err
	}
	return c.do(ctx, request{method: "DELETE", path: typePath(typ, uuid)}, nil)
}

func checkIDs(typ, uuid string) error {
	if err := checkType(typ); err != nil {
		return err
	}
	if uuid == "" {
		return fmt.Errorf("client: %s: empty uuid", typ)
	}
	return nil
}

// unwrap returns the object inside a {"<typ>": {...}} answer.
func unwrap(out map[string]Object, typ, method, path string) (Object, error) {
	obj, ok := out[typ]
	if !ok {
		obj, ok = out[strings.ReplaceAll(typ, "-", "_")]
	}
	if !ok || obj == nil {
		return nil, fmt.Errorf("client: %s %s: answer has no %q object", method, path, typ)
	}
	return obj, nil
}
