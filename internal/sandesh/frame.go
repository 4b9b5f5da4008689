// SPDX-License-Identifier: Apache-2.0

package sandesh

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"unsafe"
)

// DefaultMaxFrame is the largest frame a Reader accepts unless told
// otherwise.
const DefaultMaxFrame = 4 << 20

// Reader reads frames from a stream (a generator's TCP session).
type Reader struct {
	r     *bufio.Reader
	max   int
	head  [frameOpenLen]byte
	bytes uint64
}

// NewReader returns a Reader of r that refuses frames above maxFrame bytes
// (DefaultMaxFrame when maxFrame <= 0).
func NewReader(r io.Reader, maxFrame int) *Reader {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < 64<<10 {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &Reader{r: br, max: maxFrame}
}

// Bytes returns the number of bytes of the frames read so far.
func (r *Reader) Bytes() uint64 { return r.bytes }

// ReadFrame returns the next whole frame. At a clean end of stream between
// frames it returns io.EOF; a stream that ends inside a frame gives an
// error wrapping io.ErrUnexpectedEOF; a length above the limit gives
// ErrFrameTooLarge before anything of the body is read.
func (r *Reader) ReadFrame() (string, error) {
	if _, err := io.ReadFull(r.r, r.head[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return "", fmt.Errorf("%w: truncated frame header: %w", ErrBadFrame, err)
		}
		return "", err
	}
	h := string(r.head[:len(frameOpen)])
	if h != frameOpen {
		return "", fmt.Errorf("%w: stream does not start with %q", ErrBadFrame, frameOpen)
	}
	n, err := parseLength(string(r.head[len(frameOpen):]))
	if err != nil {
		return "", err
	}
	if n > r.max {
		return "", fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, r.max)
	}
	// A fresh buffer per frame becomes the frame string without a copy:
	// the message, its XML and every decoded string point into it.
	b := make([]byte, n)
	copy(b, r.head[:])
	if _, err := io.ReadFull(r.r, b[frameOpenLen:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return "", fmt.Errorf("%w: truncated frame (%d bytes announced): %w", ErrBadFrame, n, io.ErrUnexpectedEOF)
		}
		return "", err
	}
	s := unsafe.String(&b[0], len(b)) // b is not used after this
	if !strings.HasSuffix(s, frameClose) {
		return "", fmt.Errorf("%w: frame of %d bytes does not end with </sandesh>", ErrBadFrame, n)
	}
	r.bytes += uint64(n)
	return s, nil
}

// ReadMessage reads and parses the next frame (header and message name;
// see Message.Fields for the body).
func (r *Reader) ReadMessage() (*Message, error) {
	f, err := r.ReadFrame()
	if err != nil {
		return nil, err
	}
	return ParseFrame(f)
}
