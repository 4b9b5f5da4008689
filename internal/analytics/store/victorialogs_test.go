// SPDX-License-Identifier: Apache-2.0

package store

import (
	"context"
	"fmt"
	"go/build"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// victoriaLogsBinary finds victoria-logs: $CONTRAIL_VICTORIA_LOGS, PATH,
// then $GOPATH/bin (where scripts/install-deps.sh puts it).
func victoriaLogsBinary() string {
	if p := os.Getenv("CONTRAIL_VICTORIA_LOGS"); p != "" {
		return p
	}
	if p, err := exec.LookPath("victoria-logs"); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOPATH, "bin", "victoria-logs")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// startVictoriaLogs runs a private victoria-logs on a loopback port.
func startVictoriaLogs(t *testing.T) string {
	t.Helper()
	bin := victoriaLogsBinary()
	if bin == "" {
		t.Skip("victoria-logs binary not found (scripts/install-deps.sh builds it into $GOPATH/bin); skipping")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "-httpListenAddr="+addr, "-storageDataPath="+t.TempDir(), "-loggerLevel=ERROR",
		"-retentionPeriod=100y")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start victoria-logs: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	base := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("victoria-logs did not become healthy")
	return ""
}

func TestVictoriaLogsStore(t *testing.T) {
	base := startVictoriaLogs(t)
	v := NewVictoriaLogs(base, VictoriaLogsOptions{})
	defer v.Close()
	r := rand.New(rand.NewSource(11))
	rows := randomRows(r, 400)
	rows = append(rows, Row{Table: FlowSeriesTable, T: t0.UnixMicro() + 1, Fields: map[string]any{
		"sourcevn": "default-domain:p:vn \"q\"", "empty": "", "agg-bytes": int64(-5), "sourceip": "10.0.0.1"}})
	ctx := context.Background()
	if err := v.Write(ctx, rows[:200]); err != nil {
		t.Fatal(err)
	}
	if err := v.Write(ctx, rows[200:]); err != nil {
		t.Fatal(err)
	}
	if err := v.Write(ctx, []Row{{Table: "bad/table"}}); err == nil {
		t.Fatal("bad table accepted")
	}
	// Every row comes back with its types, in time order.
	all := scanAll(t, v, wholeDay(FlowSeriesTable))
	if len(all) != len(rows) {
		t.Fatalf("scan: %d rows, want %d", len(all), len(rows))
	}
	byKey := map[string]int{}
	key := func(r Row) string { return fmt.Sprintf("%d %v", r.T, r.Fields) }
	for _, r := range rows {
		byKey[key(r)]++
	}
	for i, r := range all {
		if i > 0 && all[i-1].T > r.T {
			t.Fatal("rows out of time order")
		}
		if byKey[key(r)] == 0 {
			t.Fatalf("row came back changed: %+v", r)
		}
		byKey[key(r)]--
	}
	// Where clauses give what the embedded store gives.
	emb := openT(t, t.TempDir(), Options{})
	defer emb.Close()
	if err := emb.Write(ctx, rows); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 25; i++ {
		q := Query{Table: FlowSeriesTable, StartTime: t0.Add(time.Duration(r.Intn(3600)) * time.Second).UnixMicro(), Where: randomWhere(r)}
		q.EndTime = q.StartTime + int64(r.Intn(4000))*1e6
		if i == 0 {
			q.Where = [][]Match{{{Name: "sourcevn", Op: OpEqual, Value: "vn1"}, {Name: "dport", Op: OpEqual, Value: "3"}}, {{Name: "sourcevn", Op: OpPrefix, Value: "vn2"}}}
		}
		got, want := scanAll(t, v, q), scanAll(t, emb, q)
		if len(got) != len(want) {
			t.Fatalf("where %+v: victorialogs %d rows, embedded %d (pushdown %s)", q.Where, len(got), len(want), pushDown(q.Where))
		}
		for j := range got {
			if got[j].T != want[j].T {
				t.Fatalf("row %d differs", j)
			}
		}
	}
	// Early stop.
	n := 0
	v.Scan(ctx, wholeDay(FlowSeriesTable), func(Row) bool { n++; return n < 3 })
	if n != 3 {
		t.Fatalf("stopped after %d", n)
	}
	tables := map[string]Table{}
	for _, tb := range v.Tables() {
		tables[tb.Name] = tb
	}
	fs, ok := tables[FlowSeriesTable]
	if !ok {
		t.Fatal("no FlowSeriesTable")
	}
	cols := map[string]bool{}
	for _, c := range fs.Columns {
		cols[c.Name] = true
	}
	for _, c := range []string{"sourcevn", "ratio", "agg-bytes"} {
		if !cols[c] {
			t.Fatalf("column %s missing from %v", c, fs.Columns)
		}
	}
	if _, ok := tables["ObjectVNTable"]; !ok {
		t.Fatal("static tables missing")
	}
}
