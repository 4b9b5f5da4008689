// SPDX-License-Identifier: Apache-2.0

package rib

import "errors"

// Errors returned by the RIB; test them with errors.Is.
var (
	ErrNoInstance  = errors.New("rib: no such routing instance")
	ErrBadInstance = errors.New("rib: invalid routing instance name")
	ErrBadFamily   = errors.New("rib: family not valid for this table")
	ErrBadKey      = errors.New("rib: key not valid for this family")
	ErrUnknownPeer = errors.New("rib: unknown peer")
	ErrBadPeer     = errors.New("rib: invalid peer kind")
	ErrNoPath      = errors.New("rib: no such path")
)
