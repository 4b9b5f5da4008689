// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAgentConfigFile reads the original's contrail-vrouter-agent.conf keys.
func TestAgentConfigFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "agent.conf")
	conf := `[DEFAULT]
hostname = compute-7
collectors = 10.0.0.1:8086 10.0.0.2:8086

[CONTROL-NODE]
servers = 10.0.0.1:5269 10.0.0.2

[VIRTUAL-HOST-INTERFACE]
ip = 192.0.2.7/24
physical_interface = eth1
`
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var cfg AgentConfig
	var stderr bytes.Buffer
	if err := loadConfig("vrouter-agent", []string{"--config", file, "--port-api", "127.0.0.1:19091"}, &cfg, &stderr, ""); err != nil {
		t.Fatalf("load: %v (%s)", err, stderr.String())
	}
	ip, err := cfg.tunnelIP()
	if err != nil || ip.String() != "192.0.2.7" {
		t.Errorf("tunnel ip %v %v", ip, err)
	}
	if cfg.Hostname != "compute-7" || cfg.UnderlayDev != "eth1" || cfg.PortAPI != "127.0.0.1:19091" ||
		strings.Join(cfg.controlNodes(), ",") != "10.0.0.1:5269,10.0.0.2:5269" || len(cfg.Collectors) != 2 ||
		cfg.Introspect != "0.0.0.0:8085" {
		t.Errorf("config: %+v", cfg)
	}
}

func TestAgentBadOptions(t *testing.T) {
	for _, args := range [][]string{
		{"--control-nodes", "127.0.0.1:5269"},
		{"--tunnel-ip", "x", "--control-nodes", "127.0.0.1:5269"},
		{"--tunnel-ip", "192.0.2.1", "--control-nodes", "a:1,b:2,c:3"},
		{"--tunnel-ip", "192.0.2.1"},
	} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), append([]string{"vrouter-agent", "--config", os.DevNull}, args...), &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errb.String())
		}
	}
}
