// SPDX-License-Identifier: Apache-2.0

package nodemgr

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/contrail-go/contrail/internal/sandesh"
	"github.com/contrail-go/contrail/internal/sandesh/generator"
)

// Process states of the original's nodemgr (supervisor names).
const (
	StateRunning = "PROCESS_STATE_RUNNING"
	StateStopped = "PROCESS_STATE_STOPPED"
	StateExited  = "PROCESS_STATE_EXITED"
)

// NodeKind describes one --node-type.
type NodeKind struct {
	NodeType    string   // header NodeType ("Config", ...)
	Module      string   // the nodemgr's module name
	Table       string   // object table of its NodeStatus
	Subcommands []string // `contrail <subcommand>` processes it watches
	Introspect  string   // default introspect address
}

// Kinds maps --node-type values to what the nodemgr of that node watches.
var Kinds = map[string]NodeKind{
	"config":    {"Config", "contrail-config-nodemgr", "ObjectConfigNode", []string{"api", "schema", "svc-monitor", "device-manager", "all-in-one"}, "0.0.0.0:8100"},
	"control":   {"Control", "contrail-control-nodemgr", "ObjectBgpRouter", []string{"control", "dns", "all-in-one"}, "0.0.0.0:8101"},
	"vrouter":   {"Compute", "contrail-vrouter-nodemgr", "ObjectVRouter", []string{"vrouter-agent"}, "0.0.0.0:8102"},
	"database":  {"Database", "contrail-database-nodemgr", "ObjectDatabaseInfo", []string{"query-engine"}, "0.0.0.0:8103"},
	"analytics": {"Analytics", "contrail-analytics-nodemgr", "ObjectCollectorInfo", []string{"collector", "analytics-api", "query-engine", "alarm-gen"}, "0.0.0.0:8104"},
}

// Config configures a Manager.
type Config struct {
	Kind      NodeKind
	Hostname  string // the NodeStatus key (default os.Hostname)
	ProcRoot  string // default "/proc"
	CoreDir   string // core files (default /var/crashes)
	Interval  time.Duration
	Generator *generator.Generator // where NodeStatus goes; nil: Scan only
	Logger    *slog.Logger
}

// ProcessInfo is process_info.sandesh ProcessInfo.
type ProcessInfo struct {
	ProcessName   string   `sandesh:"process_name,id=1" json:"process_name"`
	ProcessState  string   `sandesh:"process_state,id=2" json:"process_state"`
	StartCount    uint32   `sandesh:"start_count,id=3" json:"start_count"`
	StopCount     uint32   `sandesh:"stop_count,id=4" json:"stop_count"`
	ExitCount     uint32   `sandesh:"exit_count,id=5" json:"exit_count"`
	LastStartTime string   `sandesh:"last_start_time,id=6,omitempty" json:"last_start_time,omitempty"`
	LastStopTime  string   `sandesh:"last_stop_time,id=7,omitempty" json:"last_stop_time,omitempty"`
	LastExitTime  string   `sandesh:"last_exit_time,id=8,omitempty" json:"last_exit_time,omitempty"`
	CoreFileList  []string `sandesh:"core_file_list,id=9" json:"core_file_list"`
}

// SandeshName names the struct on the wire.
func (ProcessInfo) SandeshName() string { return "ProcessInfo" }

// DiskPartitionUsageStats is process_info.sandesh DiskPartitionUsageStats.
type DiskPartitionUsageStats struct {
	PartitionType    string `sandesh:"partition_type,id=1" json:"partition_type"`
	PartitionName    string `sandesh:"partition_name,id=2" json:"partition_name"`
	Used1K           uint64 `sandesh:"partition_space_used_1k,id=3" json:"partition_space_used_1k"`
	Available1K      uint64 `sandesh:"partition_space_available_1k,id=4" json:"partition_space_available_1k"`
	PercentSpaceUsed uint16 `sandesh:"percentage_partition_space_used,id=5" json:"percentage_partition_space_used"`
}

// SandeshName names the struct on the wire.
func (DiskPartitionUsageStats) SandeshName() string { return "DiskPartitionUsageStats" }

// ProcessCpuInfo is cpuinfo.sandesh ProcessCpuInfo.
type ProcessCpuInfo struct {
	ModuleID string  `sandesh:"module_id,id=1" json:"module_id"`
	InstID   string  `sandesh:"inst_id,id=2" json:"inst_id"`
	MemVirt  uint32  `sandesh:"mem_virt,id=3" json:"mem_virt"`
	CPUShare float64 `sandesh:"cpu_share,id=4" json:"cpu_share"`
	MemRes   uint32  `sandesh:"mem_res,id=5" json:"mem_res"`
}

// SandeshName names the struct on the wire.
func (ProcessCpuInfo) SandeshName() string { return "ProcessCpuInfo" }

// SystemCpuInfo is cpuinfo.sandesh SystemCpuInfo.
type SystemCpuInfo struct {
	NumSocket        uint32 `sandesh:"num_socket,id=1" json:"num_socket"`
	NumCPU           uint32 `sandesh:"num_cpu,id=2" json:"num_cpu"`
	NumCorePerSocket uint32 `sandesh:"num_core_per_socket,id=3" json:"num_core_per_socket"`
	NumThreadPerCore uint32 `sandesh:"num_thread_per_core,id=4" json:"num_thread_per_core"`
}

// SandeshName names the struct on the wire.
func (SystemCpuInfo) SandeshName() string { return "SystemCpuInfo" }

// SysMemInfo is cpuinfo.sandesh SysMemInfo (KiB).
type SysMemInfo struct {
	Total    uint32 `sandesh:"total,id=1" json:"total"`
	Used     uint32 `sandesh:"used,id=2" json:"used"`
	Free     uint32 `sandesh:"free,id=3" json:"free"`
	Buffers  uint32 `sandesh:"buffers,id=4" json:"buffers"`
	Cached   uint32 `sandesh:"cached,id=5" json:"cached"`
	NodeType string `sandesh:"node_type,id=6" json:"node_type"`
}

// SandeshName names the struct on the wire.
func (SysMemInfo) SandeshName() string { return "SysMemInfo" }

// SysCpuInfo is cpuinfo.sandesh SysCpuInfo.
type SysCpuInfo struct {
	OneMinAvg     float64 `sandesh:"one_min_avg,id=1" json:"one_min_avg"`
	FiveMinAvg    float64 `sandesh:"five_min_avg,id=2" json:"five_min_avg"`
	FifteenMinAvg float64 `sandesh:"fifteen_min_avg,id=3" json:"fifteen_min_avg"`
	CPUShare      float64 `sandesh:"cpu_share,id=4" json:"cpu_share"`
	NodeType      string  `sandesh:"node_type,id=5" json:"node_type"`
}

// SandeshName names the struct on the wire.
func (SysCpuInfo) SandeshName() string { return "SysCpuInfo" }

// NodeStatus is what one scan found: the nodemgr's part of nodeinfo.sandesh
// NodeStatus.
type NodeStatus struct {
	Name               string                             `json:"name"`
	ProcessInfo        []ProcessInfo                      `json:"process_info"`
	DiskUsageInfo      map[string]DiskPartitionUsageStats `json:"disk_usage_info"`
	AllCoreFileList    []string                           `json:"all_core_file_list"`
	ProcessMemCPUUsage map[string]ProcessCpuInfo          `json:"process_mem_cpu_usage"`
	SystemCPUInfo      SystemCpuInfo                      `json:"system_cpu_info"`
	SystemMemUsage     SysMemInfo                         `json:"system_mem_usage"`
	SystemCPUUsage     SysCpuInfo                         `json:"system_cpu_usage"`
	Description        string                             `json:"description,omitempty"`
}

// Manager watches the node's contrail processes and resources.
type Manager struct {
	cfg  Config
	log  *slog.Logger
	boot int64

	mu        sync.Mutex
	procs     map[string]*procState // by process name
	lastCPU   uint64                // total ticks at the last scan
	lastIdle  uint64
	lastScan  time.Time
	lastState NodeStatus
}

type procState struct {
	info    ProcessInfo
	pids    map[int]uint64 // pid -> cpu ticks at the last scan
	seen    bool
	running bool
}

// New returns a Manager.
func New(cfg Config) *Manager {
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.CoreDir == "" {
		cfg.CoreDir = "/var/crashes"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 60 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{cfg: cfg, log: log.With("component", "nodemgr"), boot: bootTime(cfg.ProcRoot), procs: map[string]*procState{}}
	for _, s := range cfg.Kind.Subcommands {
		name := "contrail-" + s
		m.procs[name] = &procState{info: ProcessInfo{ProcessName: name, ProcessState: StateStopped, CoreFileList: []string{}}, pids: map[int]uint64{}}
	}
	return m
}

// isContrail reports whether argv is `contrail <subcommand> ...` (the
// binary may sit anywhere and be called contrail or contrail-<suffix>).
func isContrail(argv []string) bool {
	if len(argv) < 2 {
		return false
	}
	b := filepath.Base(argv[0])
	return b == "contrail" || strings.HasPrefix(b, "contrail-") || strings.HasPrefix(b, "contrail.")
}

// Run scans every Interval and reports NodeStatus until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		ns := m.Scan()
		if m.cfg.Generator != nil {
			if err := m.Report(ns); err != nil {
				m.log.Warn("NodeStatus not sent", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Last returns the result of the last scan.
func (m *Manager) Last() NodeStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastState
}

// Scan looks at the processes and resources once.
func (m *Manager) Scan() NodeStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	elapsed := now.Sub(m.lastScan).Seconds()
	first := m.lastScan.IsZero()
	m.lastScan = now
	want := map[string]string{}
	for _, s := range m.cfg.Kind.Subcommands {
		want[s] = "contrail-" + s
	}
	found := map[string][]proc{}
	for _, p := range readProcs(m.cfg.ProcRoot, isContrail) {
		if name, ok := want[p.argv[1]]; ok {
			found[name] = append(found[name], p)
		}
	}
	cores := m.coreFiles()
	ns := NodeStatus{
		Name: m.cfg.Hostname, DiskUsageInfo: map[string]DiskPartitionUsageStats{},
		ProcessMemCPUUsage: map[string]ProcessCpuInfo{}, AllCoreFileList: []string{},
	}
	ustr := func(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }
	var down []string
	names := make([]string, 0, len(m.procs))
	for n := range m.procs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		st := m.procs[name]
		ps := found[name]
		running := false
		for _, p := range ps {
			if p.state != 'Z' && p.state != 'X' && p.state != 'T' && p.state != 't' {
				running = true
			}
		}
		stopped := len(ps) > 0 && !running && ps[0].state != 'Z' && ps[0].state != 'X'
		// New pids are (re)starts.
		newPids := map[int]uint64{}
		for _, p := range ps {
			if _, ok := st.pids[p.pid]; !ok {
				st.info.StartCount++
				start := time.Unix(m.boot, 0).Add(time.Duration(p.startTick) * time.Second / clockTicks)
				st.info.LastStartTime = ustr(start)
			}
			newPids[p.pid] = p.cpuTicks
		}
		switch {
		case running:
			st.info.ProcessState = StateRunning
		case stopped:
			if st.info.ProcessState != StateStopped && st.seen {
				st.info.StopCount++
				st.info.LastStopTime = ustr(now)
			}
			st.info.ProcessState = StateStopped
		case st.seen && st.info.ProcessState == StateRunning:
			st.info.ExitCount++
			st.info.LastExitTime = ustr(now)
			st.info.ProcessState = StateExited
		}
		if len(ps) > 0 {
			st.seen = true
		}
		if st.info.ProcessState != StateRunning {
			down = append(down, name)
		}
		// Per-process memory and CPU, summed over its instances.
		if len(ps) > 0 {
			var virt, res uint64
			var ticks uint64
			for _, p := range ps {
				virt += p.virtKB
				res += p.resKB
				if prev, ok := st.pids[p.pid]; ok && p.cpuTicks >= prev {
					ticks += p.cpuTicks - prev
				}
			}
			share := 0.0
			if !first && elapsed > 0 {
				share = float64(ticks) / clockTicks / elapsed * 100
			}
			ns.ProcessMemCPUUsage[name+":0"] = ProcessCpuInfo{ModuleID: name, InstID: "0",
				MemVirt: uint32(virt), MemRes: uint32(res), CPUShare: round2(share)}
		}
		st.pids = newPids
		st.info.CoreFileList = cores[name]
		if st.info.CoreFileList == nil {
			st.info.CoreFileList = []string{}
		}
		ns.ProcessInfo = append(ns.ProcessInfo, st.info)
	}
	for _, fs := range cores {
		ns.AllCoreFileList = append(ns.AllCoreFileList, fs...)
	}
	sort.Strings(ns.AllCoreFileList)
	if len(down) > 0 {
		ns.Description = strings.Join(down, ", ") + " not running"
	}
	m.resources(&ns)
	m.lastState = ns
	return ns
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// coreFiles lists the core files of CoreDir per process name (a core file
// belongs to a process when its name contains the process name, or the
// subcommand after "contrail-"), at most the 4 newest each; files that
// belong to none are listed under "".
func (m *Manager) coreFiles() map[string][]string {
	ents, err := os.ReadDir(m.cfg.CoreDir)
	if err != nil {
		return map[string][]string{}
	}
	type cf struct {
		name string
		mod  time.Time
	}
	by := map[string][]cf{}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		owner := ""
		for pn := range m.procs {
			if strings.Contains(e.Name(), pn) || strings.Contains(e.Name(), "."+strings.TrimPrefix(pn, "contrail-")+".") {
				owner = pn
				break
			}
		}
		by[owner] = append(by[owner], cf{filepath.Join(m.cfg.CoreDir, e.Name()), fi.ModTime()})
	}
	out := map[string][]string{}
	for owner, fs := range by {
		sort.Slice(fs, func(i, j int) bool { return fs[i].mod.After(fs[j].mod) })
		if owner != "" && len(fs) > 4 {
			fs = fs[:4]
		}
		for _, f := range fs {
			out[owner] = append(out[owner], f.name)
		}
	}
	return out
}

// resources fills disk, memory and CPU figures.
func (m *Manager) resources(ns *NodeStatus) {
	nt := strings.ToLower(m.cfg.Kind.NodeType)
	for _, mt := range diskMounts(m.cfg.ProcRoot) {
		var s syscall.Statfs_t
		if err := syscall.Statfs(mt.path, &s); err != nil {
			continue
		}
		bs := uint64(s.Bsize)
		used := (s.Blocks - s.Bfree) * bs / 1024
		avail := s.Bavail * bs / 1024
		pct := uint16(0)
		if used+avail > 0 {
			pct = uint16((used*100 + used + avail - 1) / (used + avail))
		}
		ns.DiskUsageInfo[mt.device] = DiskPartitionUsageStats{PartitionType: mt.fstype, PartitionName: mt.device,
			Used1K: used, Available1K: avail, PercentSpaceUsed: pct}
	}
	mi := memInfo(m.cfg.ProcRoot)
	total, free := mi["MemTotal"], mi["MemFree"]
	buffers, cached := mi["Buffers"], mi["Cached"]+mi["SReclaimable"]
	used := uint64(0)
	if total > free+buffers+cached {
		used = total - free - buffers - cached
	}
	ns.SystemMemUsage = SysMemInfo{Total: uint32(total), Used: uint32(used), Free: uint32(free),
		Buffers: uint32(buffers), Cached: uint32(cached), NodeType: nt}
	one, five, fifteen := loadAvg(m.cfg.ProcRoot)
	t, idle := totalCPUTicks(m.cfg.ProcRoot)
	share := 0.0
	if m.lastCPU > 0 && t > m.lastCPU {
		dt, di := t-m.lastCPU, idle-m.lastIdle
		share = round2(float64(dt-min(di, dt)) / float64(dt) * 100)
	}
	m.lastCPU, m.lastIdle = t, idle
	ns.SystemCPUUsage = SysCpuInfo{OneMinAvg: one, FiveMinAvg: five, FifteenMinAvg: fifteen, CPUShare: share, NodeType: nt}
	s, c, cp, th := cpuTopology(m.cfg.ProcRoot)
	ns.SystemCPUInfo = SystemCpuInfo{NumSocket: s, NumCPU: c, NumCorePerSocket: cp, NumThreadPerCore: th}
}

// Report sends ns as the NodeStatus UVE of this node through the
// generator, with the original's annotations (process_info union; stats
// tags on disk, memory and CPU usage).
func (m *Manager) Report(ns NodeStatus) error {
	conv := func(v any) sandesh.Value {
		val, err := sandesh.ToValue(v)
		if err != nil {
			panic(err) // the types above always convert
		}
		return val
	}
	fields := []sandesh.Field{
		sandesh.F("process_info", 5, conv(ns.ProcessInfo), sandesh.Attr{Name: "aggtype", Value: "union"}),
		sandesh.F("disk_usage_info", 6, conv(ns.DiskUsageInfo), sandesh.Attr{Name: "tags", Value: ""}),
		sandesh.F("all_core_file_list", 8, conv(ns.AllCoreFileList)),
		sandesh.F("process_mem_cpu_usage", 10, conv(ns.ProcessMemCPUUsage), sandesh.Attr{Name: "tags", Value: ".__key,.cpu_share"}),
		sandesh.F("system_cpu_info", 12, conv(ns.SystemCPUInfo)),
		sandesh.F("system_mem_usage", 13, conv(ns.SystemMemUsage), sandesh.Attr{Name: "tags", Value: ".node_type"}),
		sandesh.F("system_cpu_usage", 14, conv(ns.SystemCPUUsage), sandesh.Attr{Name: "tags", Value: ".node_type,.cpu_share"}),
	}
	if ns.Description != "" {
		fields = append(fields, sandesh.F("description", 7, sandesh.String(ns.Description)))
	}
	if err := m.cfg.Generator.UVE(m.cfg.Kind.Table, ns.Name, "NodeStatus", fields, false); err != nil {
		return fmt.Errorf("nodemgr: %w", err)
	}
	return nil
}
