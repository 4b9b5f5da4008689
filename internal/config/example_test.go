// SPDX-License-Identifier: Apache-2.0

package config_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/contrail-go/contrail/internal/config"
)

type controlConfig struct {
	BGPPort    int           `flag:"bgp-port" ini:"DEFAULTS.bgp_port" default:"179" usage:"BGP listen port"`
	XMPPPort   int           `flag:"xmpp-port" ini:"DEFAULTS.xmpp_server_port" default:"5269" usage:"XMPP listen port"`
	Collectors []string      `flag:"collectors" ini:"DEFAULTS.collectors" usage:"collector addresses"`
	HoldTime   time.Duration `flag:"hold-time" default:"90s" usage:"BGP hold time"`
}

func ExampleLoad() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "contrail-control.conf")
	_ = os.WriteFile(path, []byte(`
[DEFAULTS]
bgp_port = 1179
collectors = 10.0.0.1:8086 10.0.0.2:8086
`), 0o600)

	var cfg controlConfig
	fs := flag.NewFlagSet("contrail control", flag.ContinueOnError)
	args := []string{"-config", path, "-hold-time", "30"}
	if err := config.Load(fs, args, &cfg); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.BGPPort, cfg.XMPPPort, cfg.Collectors, cfg.HoldTime)
	fmt.Println(config.Dump(&cfg)["hold-time"])
	// Output:
	// 1179 5269 [10.0.0.1:8086 10.0.0.2:8086] 30s
	// 30s
}
