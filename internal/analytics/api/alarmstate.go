// SPDX-License-Identifier: Apache-2.0

package api

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// An alarm instance lives from the evaluation that first finds the alarm
// raised on a UVE to the first that finds it clear; a later raise is a
// new instance, with a new token and unacknowledged. The book keeps the
// instances (token, raise time, ack) and, given a file, writes them there
// on every change so that they outlive a restart of the API: after one,
// the alarms still raised keep their token and ack state.

// instKey names an alarm instance: UVE type, UVE key and alarm type.
type instKey struct {
	UVEType string `json:"uve_type"`
	Name    string `json:"name"`
	Alarm   string `json:"type"`
}

type alarmInstance struct {
	instKey
	Token     string `json:"token"`
	Timestamp int64  `json:"timestamp"`
	Ack       bool   `json:"ack"`
}

var (
	errNoAlarm  = errors.New("no such alarm raised")
	errBadToken = errors.New("token does not match the alarm's current instance")
)

type alarmBook struct {
	file string
	log  *slog.Logger

	mu     sync.Mutex
	loaded bool
	inst   map[instKey]*alarmInstance
	subs   map[chan struct{}]struct{}
}

func newAlarmBook(file string, log *slog.Logger) *alarmBook {
	return &alarmBook{file: file, log: log, inst: map[instKey]*alarmInstance{}, subs: map[chan struct{}]struct{}{}}
}

// loadLocked reads the file once; a missing or unreadable file starts
// an empty book.
func (b *alarmBook) loadLocked() {
	if b.loaded {
		return
	}
	b.loaded = true
	if b.file == "" {
		return
	}
	data, err := os.ReadFile(b.file)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			b.log.Warn("alarm ack state not read", "file", b.file, "err", err)
		}
		return
	}
	var list []alarmInstance
	if err := json.Unmarshal(data, &list); err != nil {
		b.log.Warn("alarm ack state not read", "file", b.file, "err", err)
		return
	}
	for i := range list {
		in := list[i]
		if in.Token == "" {
			continue
		}
		b.inst[in.instKey] = &in
	}
}

// saveLocked writes the book to its file (write a temporary file, then
// rename it over the old one).
func (b *alarmBook) saveLocked() {
	if b.file == "" {
		return
	}
	list := make([]*alarmInstance, 0, len(b.inst))
	for _, in := range b.inst {
		list = append(list, in)
	}
	sort.Slice(list, func(i, j int) bool {
		x, y := list[i].instKey, list[j].instKey
		if x.UVEType != y.UVEType {
			return x.UVEType < y.UVEType
		}
		if x.Name != y.Name {
			return x.Name < y.Name
		}
		return x.Alarm < y.Alarm
	})
	data, _ := json.MarshalIndent(list, "", " ")
	tmp, err := os.CreateTemp(filepath.Dir(b.file), ".alarm-acks-*")
	if err == nil {
		_, err = tmp.Write(data)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), b.file)
		}
		if err != nil {
			os.Remove(tmp.Name())
		}
	}
	if err != nil {
		b.log.Warn("alarm ack state not written", "file", b.file, "err", err)
	}
}

// newToken returns an opaque token for a new instance: base64 of a JSON
// naming the instance, with a random nonce so that no two instances share
// one.
func newToken(k instKey, ts int64) string {
	var nonce [8]byte
	rand.Read(nonce[:])
	data, _ := json.Marshal(map[string]any{
		"uve_type": k.UVEType, "name": k.Name, "type": k.Alarm, "timestamp": ts,
		"nonce": hex.EncodeToString(nonce[:]),
	})
	return base64.StdEncoding.EncodeToString(data)
}

// apply records one evaluation: raised holds the alarms found raised,
// inScope tells which instances it covered (those of the evaluated UVEs
// or types). It starts instances for new alarms, ends those in scope no
// longer raised, and fills each raised AlarmInfo's token, timestamp (the
// instance's raise time) and ack.
func (b *alarmBook) apply(raised map[instKey]*AlarmInfo, inScope func(instKey) bool, now int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.loadLocked()
	changed := false
	for k, info := range raised {
		in := b.inst[k]
		if in == nil {
			in = &alarmInstance{instKey: k, Token: newToken(k, now), Timestamp: now}
			b.inst[k] = in
			changed = true
		}
		info.Token, info.Timestamp, info.Ack = in.Token, in.Timestamp, in.Ack
	}
	for k := range b.inst {
		if _, ok := raised[k]; !ok && inScope(k) {
			delete(b.inst, k)
			changed = true
		}
	}
	if changed {
		b.saveLocked()
		b.notifyLocked()
	}
}

// ack acknowledges the current instance of k if token is its token.
func (b *alarmBook) ack(k instKey, token string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.loadLocked()
	in := b.inst[k]
	if in == nil {
		return errNoAlarm
	}
	if in.Token != token {
		return errBadToken
	}
	if !in.Ack {
		in.Ack = true
		b.saveLocked()
		b.notifyLocked()
	}
	return nil
}

// subscribe returns a channel that gets a signal after each change of
// the book (coalesced), and the function that ends the subscription.
func (b *alarmBook) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

func (b *alarmBook) notifyLocked() {
	for ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// count returns the instances held (for tests and introspect).
func (b *alarmBook) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.loadLocked()
	return len(b.inst)
}

func (k instKey) String() string { return fmt.Sprintf("%s:%s %s", k.UVEType, k.Name, k.Alarm) }
