// SPDX-License-Identifier: Apache-2.0

// Package portapi is the vrouter agent's port API, the equivalent of the
// original's port_ipc (src/vnsw/agent/port_ipc): a small REST server on
// 127.0.0.1:9091 through which the compute orchestrator (nova's VIF driver,
// the CNI plugin, vrouter-port-control) tells the agent that a tap device
// now belongs to a virtual-machine-interface.
//
// Routes (Server.Handler):
//
//	POST   /port         add or replace a port; 200 with the stored port
//	GET    /port/<uuid>  one port; 404 if unknown
//	DELETE /port/<uuid>  remove a port; 404 if unknown
//	GET    /ports        every port, sorted by id (our addition)
//	POST   /syncports    re-apply every stored port through Server.Apply
//
// Errors are JSON: {"error":{"code":"...","field":"...","message":"..."}}.
//
// Every accepted port is kept in a Store: one JSON file per port, named by
// the port's uuid, in a directory (the original's /var/lib/contrail/ports),
// written atomically and read back when the agent starts, so the agent can
// re-program its ports after a restart without the orchestrator's help.
//
// The agent plugs itself in with three hooks on Server, called one request
// at a time in arrival order: Validate (does the VMI exist, does the tap
// exist), Apply (program the dataplane) and Remove (unprogram it). A port is
// stored only after Validate and Apply succeed, so a failed request leaves
// nothing behind.
//
// RunPortControl is the client, with the flags of the original's
// vrouter-port-control script.
package portapi
