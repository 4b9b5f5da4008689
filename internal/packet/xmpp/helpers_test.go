// SPDX-License-Identifier: Apache-2.0

package xmpp

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// oneByteReader returns one byte per Read.
type oneByteReader struct {
	b []byte
}

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

// chunkReader returns the given chunks one per Read, then err (io.EOF if nil).
type chunkReader struct {
	chunks [][]byte
	err    error
	reads  int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	r.reads++
	for len(r.chunks) > 0 && len(r.chunks[0]) == 0 {
		r.chunks = r.chunks[1:]
	}
	if len(r.chunks) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	return n, nil
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// elemEqual compares two trees, treating nil and empty slices alike.
func elemEqual(a, b *Element) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Name != b.Name || a.Text != b.Text || len(a.Attr) != len(b.Attr) || len(a.Children) != len(b.Children) {
		return false
	}
	for i := range a.Attr {
		if a.Attr[i] != b.Attr[i] {
			return false
		}
	}
	for i := range a.Children {
		if !elemEqual(a.Children[i], b.Children[i]) {
			return false
		}
	}
	return true
}

func mustParse(t testing.TB, s string) *Element {
	t.Helper()
	el, err := ParseElement([]byte(s))
	if err != nil {
		t.Fatalf("ParseElement(%q): %v", s, err)
	}
	return el
}
