// SPDX-License-Identifier: Apache-2.0

// Package nodemgr is `contrail nodemgr --node-type T`: it finds this
// project's daemons on the node by their command line in /proc
// (`contrail <subcommand> ...`, whatever started them and wherever the
// binary is), follows their state (PROCESS_STATE_RUNNING, STOPPED when
// stopped by a signal, EXITED when gone; start, stop and exit counts and
// times), their memory and CPU, the node's disks (ext2/3/4, xfs, btrfs
// mounts), memory, load and CPU, and the core files in a directory, and
// reports them every interval as the node's NodeStatus UVE
// (nodeinfo.sandesh: process_info, disk_usage_info, all_core_file_list,
// process_mem_cpu_usage, system_cpu_info, system_mem_usage,
// system_cpu_usage) through the generator library.
//
// The processes watched per node type are in Kinds: config (api, schema,
// svc-monitor, device-manager, all-in-one), control (control, dns,
// all-in-one), vrouter (vrouter-agent), database (query-engine),
// analytics (collector, analytics-api, query-engine, alarm-gen); each is
// reported as contrail-<subcommand>.
package nodemgr
