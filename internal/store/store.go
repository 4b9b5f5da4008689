// SPDX-License-Identifier: Apache-2.0

package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
)

// DefaultPrefix is the etcd key prefix under which all config lives.
const DefaultPrefix = "/contrail/"

// Options says where the store is: an external etcd cluster (Endpoints) or an
// embedded single-member etcd kept in DataDir.
type Options struct {
	// Endpoints of an external etcd cluster. When empty an embedded etcd is started.
	Endpoints []string
	// DataDir of the embedded etcd.
	DataDir string
	// ClientListen is the embedded etcd's client URL, so that other daemons
	// (schema, control, ...) on this or other machines can watch the same store.
	// Empty means "http://127.0.0.1:2379"; "none" serves no client port at all.
	ClientListen string
	// PeerListen is the embedded etcd's peer URL; empty means "http://127.0.0.1:2380".
	PeerListen string
	// Prefix of every key; DefaultPrefix when empty.
	Prefix string
	// DialTimeout for an external cluster.
	DialTimeout time.Duration
	// Logger for store events; discarded when nil.
	Logger *slog.Logger
	// UnsafeNoFsync makes the embedded etcd skip fsync: for tests only,
	// where a crash loses nothing of value and a loaded disk must not make
	// requests time out.
	UnsafeNoFsync bool
}

// Store is an open connection to the config store.
type Store struct {
	Client *clientv3.Client
	Keys   Keys

	embedded *embed.Etcd
	log      *slog.Logger
}

// Open connects to the configured etcd or starts the embedded one and waits
// until it serves.
func Open(ctx context.Context, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	s := &Store{Keys: Keys{Prefix: prefix}, log: log}
	if len(opts.Endpoints) > 0 {
		dt := opts.DialTimeout
		if dt == 0 {
			dt = 5 * time.Second
		}
		cli, err := clientv3.New(clientv3.Config{
			Endpoints:   opts.Endpoints,
			DialTimeout: dt,
			Context:     ctx,
			Logger:      nopZap(),
		})
		if err != nil {
			return nil, fmt.Errorf("store: connect to etcd %v: %w", opts.Endpoints, err)
		}
		// Fail early and clearly when the cluster is not there.
		sctx, cancel := context.WithTimeout(ctx, dt)
		_, err = cli.Get(sctx, prefix+"probe")
		cancel()
		if err != nil {
			cli.Close()
			return nil, fmt.Errorf("store: etcd %v not reachable: %w", opts.Endpoints, err)
		}
		s.Client = cli
		log.Info("connected to etcd", "endpoints", opts.Endpoints)
		return s, nil
	}
	e, err := startEmbedded(opts)
	if err != nil {
		return nil, err
	}
	s.embedded = e
	s.Client = v3client.New(e.Server)
	log.Info("embedded etcd ready", "data_dir", opts.DataDir, "client_urls", strings.Join(s.ClientURLs(), ","))
	return s, nil
}

func startEmbedded(opts Options) (*embed.Etcd, error) {
	dir := opts.DataDir
	if dir == "" {
		dir = "./contrail-data"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: data dir: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Name = "contrail"
	cfg.Dir = filepath.Join(dir, "etcd")
	cfg.LogLevel = "error"
	cfg.Logger = "zap"
	// etcd's own zap logs (including harmless shutdown noise) are dropped;
	// the store reports what matters through slog.
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(nopZap())
	// One API write may touch an object, its indexes, its refs and its IDs.
	cfg.MaxTxnOps = 4096
	cfg.MaxRequestBytes = 8 * 1024 * 1024
	cfg.QuotaBackendBytes = 8 * 1024 * 1024 * 1024
	cfg.AutoCompactionMode = "revision"
	cfg.AutoCompactionRetention = "100000"
	cfg.SnapshotCount = 50000
	cfg.UnsafeNoFsync = opts.UnsafeNoFsync
	client := opts.ClientListen
	if client == "" {
		client = "http://127.0.0.1:2379"
	}
	peer := opts.PeerListen
	if peer == "" {
		peer = "http://127.0.0.1:2380"
	}
	pu, err := parseURL("peer", peer)
	if err != nil {
		return nil, err
	}
	cfg.ListenPeerUrls = []url.URL{pu}
	cfg.AdvertisePeerUrls = []url.URL{pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	if client == "none" {
		// Still needs one listener; a unix socket in the data dir keeps it private.
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: data dir: %w", err)
		}
		client = "unix://" + filepath.Join(cfg.Dir, "client.sock")
	}
	cu, err := parseURL("client", client)
	if err != nil {
		return nil, err
	}
	cfg.ListenClientUrls = []url.URL{cu}
	cfg.AdvertiseClientUrls = []url.URL{cu}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("store: start embedded etcd in %s: %w", cfg.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("store: embedded etcd not ready after 60s")
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("store: embedded etcd: %w", err)
	}
	return e, nil
}

func parseURL(what, s string) (url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return url.URL{}, fmt.Errorf("store: bad etcd %s url %q: %w", what, s, err)
	}
	return *u, nil
}

// Embedded reports whether the store runs an embedded etcd.
func (s *Store) Embedded() bool { return s.embedded != nil }

// ClientURLs are the URLs other processes use to reach the embedded etcd.
func (s *Store) ClientURLs() []string {
	if s.embedded == nil {
		return s.Client.Endpoints()
	}
	var out []string
	for _, u := range s.embedded.Config().AdvertiseClientUrls {
		out = append(out, u.String())
	}
	return out
}

// Close closes the client and stops the embedded etcd, in that order, so that
// no request is in flight when the server goes away.
func (s *Store) Close() error {
	var err error
	if s.Client != nil {
		err = s.Client.Close()
	}
	if s.embedded != nil {
		s.embedded.Close()
	}
	return err
}
