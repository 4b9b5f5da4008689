// Package flows keeps the vrouter agent's flow records, the equivalent of
// the original vRouter's flow table as the agent exports it, from the
// kernel's conntrack table of the host namespace.
//
// # API
//
//	type Config struct {
//		Log      *slog.Logger
//		NetNS    netns.NsHandle // namespace to watch; default (None): the caller's at New
//		Resolve  func(mark uint32) (port, vn, ruleUUID string, ok bool) // security.Firewall.Resolve
//		MaxFlows int            // bound of the table (default 65536); NEW flows over it are dropped and counted
//		Refresh  time.Duration  // period of the counter refresh dump and of exports (default 5 s)
//		All      bool           // also keep flows whose mark does not resolve (default: only port flows)
//		DenyLogGroup uint16     // nflog group of the deny rules (security.WithDenyLog); 0 = no deny records
//	}
//	type Record struct {
//		ID                    uint32         // conntrack id
//		Proto                 uint8
//		Src, Dst              netip.AddrPort // original direction (as the VM or the remote sent it)
//		ReplySrc, ReplyDst    netip.AddrPort // reply direction (differs from the original under NAT)
//		Setup, Teardown       time.Time      // Teardown zero while active
//		Packets, Bytes        uint64         // original direction
//		ReplyPackets, ReplyBytes uint64      // reply direction
//		Mark                  uint32         // conntrack mark set by the security package
//		Port, VN, RuleUUID    string         // resolved from Mark
//		Action                string         // "pass", or "deny" for a record made from logged dropped packets
//	}
//	func New(cfg Config) (*Table, error)
//	func (t *Table) Start(ctx context.Context) error   // sets nf_conntrack_acct=1 and nf_conntrack_timestamp=1 in the
//	                                                   // namespace, loads existing flows, then follows NEW/DESTROY
//	                                                   // events and refreshes counters every Refresh until ctx ends
//	func (t *Table) Snapshot() []Record                // active flows (and closed ones not yet exported), by ID
//	func (t *Table) OnExport(fn func([]Record))        // called every Refresh with the records that changed since the
//	                                                   // previous call (new, counters moved, closed); closed records are
//	                                                   // then forgotten
//	func (t *Table) Stats() Stats                      // Active, Created, Closed, Dropped (table full), Resyncs
//	func (t *Table) Wait()                             // returns once the goroutines of Start have ended
//
// # Behaviour
//
// NEW events carry the conntrack mark written by the security package's
// port chains, so a record knows the port, network and rule that allowed
// it. DESTROY events (with accounting on, they carry the final counters)
// close a record. Every Refresh a dump of the table updates the counters
// of long-lived flows, closes records whose flow vanished without an event
// and adds flows whose NEW event was lost (the event socket overflowed).
// After an event socket error the listener is reopened and a dump resyncs.
//
// Conntrack must be active in the namespace, which it is once a hook
// needs it: the security package's table does.
//
// Denied connections never enter conntrack. With DenyLogGroup (and the
// firewall's WithDenyLog on the same group) the deny rules copy the first
// 128 bytes of every packet they drop to nflog; the table aggregates them
// per port and 5-tuple into records with Action "deny" (ID 0, Packets and
// Bytes of the dropped packets, RuleUUID of the deny entry of a network
// ACL, empty for the security-group default deny), closed after a Refresh
// period without packets.
//
// The agent sends the records to the analytics collector through
// OnExport (FlowLogData, see agent/report.go). Not done: flow sampling and
// the aging policies of the original.
package flows
