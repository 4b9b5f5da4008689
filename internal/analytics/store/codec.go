// SPDX-License-Identifier: Apache-2.0

package store

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math"
)

// Framing shared by the write-ahead log and the column files: each record
// is [4-byte little-endian payload length][4-byte CRC-32C of the payload]
// [payload]. A record whose length runs past the end of the data or whose
// checksum does not match ends the readable part.

var crcTable = crc32.MakeTable(crc32.Castagnoli)

const (
	frameHeader   = 8
	maxRecordSize = 1 << 30
)

func appendFrame(dst, payload []byte) []byte {
	var h [frameHeader]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:8], crc32.Checksum(payload, crcTable))
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

var errBadFrame = errors.New("torn or corrupted record")

// readFrame reads one record from r; io.EOF at a clean end, errBadFrame
// when the rest is torn or corrupted.
func readFrame(r io.Reader, buf []byte) ([]byte, int, error) {
	var h [frameHeader]byte
	n, err := io.ReadFull(r, h[:])
	if err == io.EOF {
		return nil, 0, io.EOF
	}
	if err != nil {
		return nil, n, errBadFrame
	}
	size := binary.LittleEndian.Uint32(h[0:4])
	sum := binary.LittleEndian.Uint32(h[4:8])
	if size > maxRecordSize {
		return nil, n, errBadFrame
	}
	if cap(buf) < int(size) {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	m, err := io.ReadFull(r, buf)
	n += m
	if err != nil {
		return nil, n, errBadFrame
	}
	if crc32.Checksum(buf, crcTable) != sum {
		return nil, n, errBadFrame
	}
	return buf, n, nil
}

// Value tags of the encoding.
const (
	tagNil    = 0
	tagString = 1
	tagInt    = 2
	tagFloat  = 3
	tagFalse  = 4
	tagTrue   = 5
)

type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) byte1(c byte)     { e.b = append(e.b, c) }
func (e *encoder) f64(f float64) {
	e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(f))
}
func (e *encoder) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }

func (e *encoder) value(v any) {
	switch x := v.(type) {
	case nil:
		e.byte1(tagNil)
	case string:
		e.byte1(tagString)
		e.str(x)
	case int64:
		e.byte1(tagInt)
		e.varint(x)
	case float64:
		e.byte1(tagFloat)
		e.f64(x)
	case bool:
		if x {
			e.byte1(tagTrue)
		} else {
			e.byte1(tagFalse)
		}
	default:
		nv, _ := Normalize(v)
		e.value(nv)
	}
}

type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated data")

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errShort
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that must not exceed what is left (each element
// takes at least min bytes).
func (d *decoder) count(min int) int {
	v := d.uvarint()
	if d.err != nil {
		return 0
	}
	if min < 1 {
		min = 1
	}
	if v > uint64(len(d.b)/min)+1 || v > maxRecordSize {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) byte1() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) f64() float64 { return math.Float64frombits(d.u64()) }

func (d *decoder) value() any {
	switch d.byte1() {
	case tagNil:
		return nil
	case tagString:
		return d.str()
	case tagInt:
		return d.varint()
	case tagFloat:
		return d.f64()
	case tagFalse:
		return false
	case tagTrue:
		return true
	default:
		d.fail()
		return nil
	}
}

// encodeRows is the payload of one write-ahead-log record.
func encodeRows(rows []Row) []byte {
	e := encoder{b: make([]byte, 0, 64*len(rows)+16)}
	e.uvarint(uint64(len(rows)))
	for _, r := range rows {
		e.str(r.Table)
		e.varint(r.T)
		e.uvarint(uint64(len(r.Fields)))
		for k, v := range r.Fields {
			e.str(k)
			e.value(v)
		}
	}
	return e.b
}

func decodeRows(b []byte) ([]Row, error) {
	d := decoder{b: b}
	n := d.count(3)
	rows := make([]Row, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		r := Row{Table: d.str(), T: d.varint()}
		nf := d.count(2)
		r.Fields = make(map[string]any, nf)
		for j := 0; j < nf && d.err == nil; j++ {
			k := d.str()
			r.Fields[k] = d.value()
		}
		rows = append(rows, r)
	}
	if d.err != nil {
		return nil, d.err
	}
	return rows, nil
}
