// SPDX-License-Identifier: Apache-2.0

//go:build unix

package store

import (
	"os"
	"syscall"
)

// mapFile maps a whole file read-only. The mapping stays valid after the
// file is closed and after it is unlinked.
func mapFile(path string) (data []byte, mapped bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	size := st.Size()
	if size == 0 {
		return []byte{}, false, nil
	}
	if size != int64(int(size)) {
		return nil, false, syscall.EFBIG
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

func unmapFile(data []byte) { syscall.Munmap(data) }
