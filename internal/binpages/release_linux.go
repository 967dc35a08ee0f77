package binpages

import (
	"fmt"
	"syscall"
)

// Release drops the resident pages of the executable's read-only mappings and turns off
// fault-around for them; it returns the bytes of address space it covered.
func Release() (int, error) {
	ms, err := self()
	if err != nil {
		return 0, fmt.Errorf("binpages: %w", err)
	}
	n := 0
	for _, m := range ms {
		for _, advice := range []int{syscall.MADV_RANDOM, syscall.MADV_DONTNEED} {
			if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.Start, m.End-m.Start, uintptr(advice)); errno != 0 {
				return n, fmt.Errorf("binpages: madvise %#x-%#x: %w", m.Start, m.End, errno)
			}
		}
		n += int(m.End - m.Start)
	}
	return n, nil
}
