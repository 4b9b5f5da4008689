// SPDX-License-Identifier: Apache-2.0

package nodemgr

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// proc is one process found under /proc.
type proc struct {
	pid       int
	argv      []string
	state     byte   // R, S, D, T, t, Z, X ...
	cpuTicks  uint64 // utime + stime
	startTick uint64 // start time in clock ticks after boot
	virtKB    uint64
	resKB     uint64
}

// clockTicks is USER_HZ, 100 on every Linux the project targets.
const clockTicks = 100

// readProcs lists the processes of procRoot whose argv satisfies match.
func readProcs(procRoot string, match func(argv []string) bool) []proc {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil
	}
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join(procRoot, e.Name())
		raw, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || len(raw) == 0 {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if !match(argv) {
			continue
		}
		p := proc{pid: pid, argv: argv}
		if stat, err := os.ReadFile(filepath.Join(dir, "stat")); err == nil {
			parseStat(stat, &p)
		}
		if statm, err := os.ReadFile(filepath.Join(dir, "statm")); err == nil {
			f := strings.Fields(string(statm))
			if len(f) >= 2 {
				page := uint64(os.Getpagesize() / 1024)
				v, _ := strconv.ParseUint(f[0], 10, 64)
				r, _ := strconv.ParseUint(f[1], 10, 64)
				p.virtKB, p.resKB = v*page, r*page
			}
		}
		out = append(out, p)
	}
	return out
}

// parseStat reads state, utime, stime and starttime of /proc/<pid>/stat.
// The command name (field 2) may hold spaces and parentheses, so fields
// are counted from the last ')'.
func parseStat(b []byte, p *proc) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return
	}
	f := strings.Fields(string(b[i+2:]))
	// f[0] is field 3 (state); utime is field 14, stime 15, starttime 22.
	if len(f) < 20 {
		return
	}
	p.state = f[0][0]
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	p.cpuTicks = ut + st
	p.startTick, _ = strconv.ParseUint(f[19], 10, 64)
}

// bootTime is the system boot time in seconds since the epoch (btime).
func bootTime(procRoot string) int64 {
	b, err := os.ReadFile(filepath.Join(procRoot, "stat"))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// totalCPUTicks sums the "cpu" line of /proc/stat (all CPUs) and its idle
// part.
func totalCPUTicks(procRoot string) (total, idle uint64) {
	b, err := os.ReadFile(filepath.Join(procRoot, "stat"))
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0
	}
	for i, s := range f[1:] {
		n, _ := strconv.ParseUint(s, 10, 64)
		total += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return total, idle
}

// memInfo reads /proc/meminfo in KiB.
func memInfo(procRoot string) map[string]uint64 {
	out := map[string]uint64{}
	f, err := os.Open(filepath.Join(procRoot, "meminfo"))
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, _ := strconv.ParseUint(fs[0], 10, 64)
		out[k] = n
	}
	return out
}

// loadAvg reads /proc/loadavg.
func loadAvg(procRoot string) (one, five, fifteen float64) {
	b, err := os.ReadFile(filepath.Join(procRoot, "loadavg"))
	if err != nil {
		return
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return
	}
	one, _ = strconv.ParseFloat(f[0], 64)
	five, _ = strconv.ParseFloat(f[1], 64)
	fifteen, _ = strconv.ParseFloat(f[2], 64)
	return
}

// cpuTopology reads /proc/cpuinfo: sockets, logical CPUs, cores per
// socket, threads per core.
func cpuTopology(procRoot string) (sockets, cpus, cores, threads uint32) {
	b, err := os.ReadFile(filepath.Join(procRoot, "cpuinfo"))
	if err != nil {
		return
	}
	phys := map[string]bool{}
	var coresPer, siblings uint32
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			cpus++
		case "physical id":
			phys[v] = true
		case "cpu cores":
			n, _ := strconv.ParseUint(v, 10, 32)
			coresPer = uint32(n)
		case "siblings":
			n, _ := strconv.ParseUint(v, 10, 32)
			siblings = uint32(n)
		}
	}
	sockets = uint32(len(phys))
	if sockets == 0 {
		sockets = 1
	}
	cores = coresPer
	if cores == 0 {
		cores = cpus / sockets
	}
	threads = 1
	if cores > 0 && siblings >= cores {
		threads = siblings / cores
	}
	return
}

// mount is one mounted file system.
type mount struct{ device, path, fstype string }

// diskMounts lists the mounts of the file system types the original's
// nodemgr reports (df -t ext2 -t ext3 -t ext4 -t xfs), plus btrfs.
func diskMounts(procRoot string) []mount {
	b, err := os.ReadFile(filepath.Join(procRoot, "mounts"))
	if err != nil {
		return nil
	}
	var out []mount
	seen := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		switch f[2] {
		case "ext2", "ext3", "ext4", "xfs", "btrfs":
		default:
			continue
		}
		if seen[f[0]] {
			continue
		}
		seen[f[0]] = true
		out = append(out, mount{device: f[0], path: f[1], fstype: f[2]})
	}
	return out
}
