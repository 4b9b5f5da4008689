// SPDX-License-Identifier: Apache-2.0

// Package client is a Go client of the VNC REST API, the config API of
// OpenContrail that `contrail api` serves on port 8082.
//
// Objects are generic JSON (Object, a map decoded with numbers kept as
// json.Number) addressed by their hyphenated type name, as in the URLs of
// the API: "virtual-network", "network-ipam", "virtual-machine-interface".
// Field names inside objects are the JSON names, with underscores.
//
//	c := client.New("http://127.0.0.1:8082", client.WithTimeout(10*time.Second))
//	created, err := c.Create(ctx, "virtual-network", client.Object{
//		"fq_name":     []string{"default-domain", "default-project", "vn1"},
//		"parent_type": "project",
//		"network_ipam_refs": []any{map[string]any{
//			"to": []string{"default-domain", "default-project", "default-network-ipam"},
//			"attr": map[string]any{"ipam_subnets": []any{map[string]any{
//				"subnet": map[string]any{"ip_prefix": "10.1.1.0", "ip_prefix_len": 24},
//			}}},
//		}},
//	})
//	if client.IsConflict(err) {
//		// an object with that fq-name exists already
//	}
//	vn, err := c.Read(ctx, "virtual-network", created.UUID(), client.ExcludeBackRefs())
//	id, _ := vn.GetInt("virtual_network_network_id")
//
//	nets, err := c.ListAll(ctx, "virtual-network", client.ListQuery{
//		ParentFQName: []string{"default-domain", "default-project"},
//		Detail:       true,
//	})
//
// The methods map one to one onto the API:
//
//   - Create, Read, Update, Delete: POST /<type>s, GET, PUT and DELETE
//     /<type>/<uuid>; ReadByFQName resolves an fq-name first.
//   - List (GET /<type>s, or POST /list-bulk-collection for very long uuid
//     lists) returns one page; ListAll follows the page markers.
//   - FQNameToID, IDToFQName, RefUpdate, RefRelaxForDelete,
//     PropCollectionGet, PropCollectionUpdate, UserAgentKV*, ObjPerms,
//     Chown, Chmod, SetTag: the action endpoints of the same names.
//   - IPAlloc, IPFree, SubnetIPCount: /virtual-network/<uuid>/ip-alloc etc.
//   - ResourceTypes and Links read the home page (GET /).
//
// An error answer of the server is an *Error with its status code, the
// field it is about and the message; IsNotFound, IsConflict and the other
// Is* helpers test for the common ones through errors.As, so they work on
// wrapped errors too.
package client
