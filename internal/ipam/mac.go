// SPDX-License-Identifier: Apache-2.0

package ipam

import (
	"fmt"
	"strings"
)

// MACFromUUID returns the MAC address the original assigns to a
// virtual-machine-interface without a configured one: "02:" followed by the
// first five bytes of the interface UUID, e.g. "8f2b3c4d-5e6f-..." gives
// "02:8f:2b:3c:4d:5e". The result is lower case. It returns "" when uuid
// does not start with ten hex digits (dashes are skipped).
func MACFromUUID(uuid string) string {
	var hex [10]byte
	n := 0
	for i := 0; i < len(uuid) && n < len(hex); i++ {
		c := uuid[i]
		switch {
		case c == '-':
			continue
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			c += 'a' - 'A'
		default:
			return ""
		}
		hex[n] = c
		n++
	}
	if n < len(hex) {
		return ""
	}
	var b strings.Builder
	b.Grow(17)
	b.WriteString("02")
	for i := 0; i < len(hex); i += 2 {
		b.WriteByte(':')
		b.WriteByte(hex[i])
		b.WriteByte(hex[i+1])
	}
	return b.String()
}

// ParseMAC validates a 48-bit MAC address and returns it in lower-case,
// colon-separated, two-digits-per-byte form ("00:1b:77:49:54:fd"). Accepted
// inputs: six groups of one or two hex digits separated by ':' or '-'
// ("0:1b:77:49:54:fd", "00-1B-77-49-54-FD"), three dot-separated groups of
// four ("001b.7749.54fd") and twelve bare hex digits.
func ParseMAC(s string) (string, error) {
	in := strings.TrimSpace(s)
	var groups []string
	width := 0 // required digits per group; 0 means 1 or 2
	switch {
	case strings.Count(in, ":") == 5 && !strings.ContainsAny(in, "-."):
		groups = strings.Split(in, ":")
	case strings.Count(in, "-") == 5 && !strings.ContainsAny(in, ":."):
		groups = strings.Split(in, "-")
	case strings.Count(in, ".") == 2 && !strings.ContainsAny(in, ":-"):
		groups, width = strings.Split(in, "."), 4
	case len(in) == 12:
		groups, width = []string{in}, 12
	default:
		return "", fmt.Errorf("%q is not a MAC address", s)
	}
	var digits []byte
	for _, g := range groups {
		if !isHex(g) || g == "" || (width == 0 && len(g) > 2) || (width != 0 && len(g) != width) {
			return "", fmt.Errorf("%q is not a MAC address", s)
		}
		if width == 0 && len(g) == 1 {
			digits = append(digits, '0')
		}
		digits = append(digits, strings.ToLower(g)...)
	}
	var b strings.Builder
	b.Grow(17)
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.Write(digits[i : i+2])
	}
	return b.String(), nil
}
