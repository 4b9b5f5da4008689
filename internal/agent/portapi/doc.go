// SPDX-License-Identifier: Apache-2.0

// Package portapi is the vrouter agent's port API, the equivalent of the
// original's port_ipc (src/vnsw/agent/port_ipc): a small REST server on
// 127.0.0.1:9091 through which the compute orchestrator (nova's VIF driver,
// the CNI plugin, vrouter-port-control) tells the agent that a tap device
// now belongs to a virtual-machine-interface.
//
// Routes (Server.Handler):
//
//	POST   /port                      add or replace a port; 200 with the stored port
//	GET    /port/<uuid>               one port (also a VM-style one); 404 if unknown
//	DELETE /port/<uuid>               remove a port; 404 if unknown
//	GET    /ports                     every POST /port port, sorted by id (our addition)
//	POST   /syncports                 re-apply every stored port through Server.Apply
//	PUT    /enable-port/<uuid>        set the port's link-state to 1 (enabled)
//	PUT    /disable-port/<uuid>       set it to 0: the port stays stored but passes no
//	                                  traffic (the agent sets its device down and
//	                                  withdraws it); kept across restarts; 404 if unknown
//	POST   /vm                        register a VM-style port (VMPort: vm-uuid, vmi-uuid,
//	                                  vm-name, host-ifname, vm-ifname, vm-namespace,
//	                                  vn-uuid, vm-id); the agent takes MAC, addresses
//	                                  and network from its config
//	GET    /vm/<vm-uuid>[/<vmi-uuid>] the VM's ports as the agent resolved them (ip,
//	                                  plen, gateway, dns-server, mac); 503 until the
//	                                  config has them, 404 for a VM without ports
//	DELETE /vm/<vm-uuid>[/<vmi-uuid>] remove the VM's (or one) VM-style ports
//	GET    /vm-cfg/<name>             the VM's interfaces in the agent's config
//	POST   /gateway, DELETE /gateway  the original's virtual gateway: the body is
//	                                  checked, then 501 (no vgw in this dataplane)
//
// Errors are JSON: {"error":{"code":"...","field":"...","message":"..."}};
// 400 names the field at fault, 409 (code conflict) a port that exists in
// the other form (POST /port vs POST /vm).
//
// Every accepted port is kept in a Store: one JSON file per port, named by
// the port's uuid, in a directory (the original's /var/lib/contrail/ports),
// VM-style ports in vm/<vm-uuid>/<vmi-uuid>, written atomically and read
// back when the agent starts, so the agent can re-program its ports after
// a restart without the orchestrator's help. A change is answered only
// once its file is durable; concurrent changes share their fsyncs (group
// commit, see Store).
//
// The agent plugs itself in with hooks on Server: Validate (does the VMI
// exist, does the tap exist; it may run concurrently), Apply (program the
// dataplane) and Remove (unprogram it), called one request at a time in
// arrival order, and Describe and VMConfig for the GET /vm and /vm-cfg
// answers. A port is stored only after Validate and Apply succeed, so a
// failed request leaves nothing behind.
//
// RunPortControl is the client, with the flags of the original's
// vrouter-port-control script.
package portapi
