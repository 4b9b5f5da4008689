// SPDX-License-Identifier: Apache-2.0

//go:build !unix

package store

import "os"

// mapFile reads a whole file where memory mappings are not used.
func mapFile(path string) (data []byte, mapped bool, err error) {
	data, err = os.ReadFile(path)
	return data, false, err
}

func unmapFile([]byte) {}
