// Package binpages gives back the resident pages of the process's own executable that start-up
// touched and idle work does not need.
//
// A Go binary's read-only segments (code, type data, the function table) are mapped from the
// file. Package initialisation and start-up touch pages all over them, and the kernel maps up to
// 64 KiB of neighbouring page-cache pages on every fault ("fault-around"), so a 45 MB agent kept
// about 30 MiB of its binary resident while idle — most of its RSS — although idle work runs a
// small part of it. Release drops those pages from the process's page tables (MADV_DONTNEED) and
// asks the kernel to map them back one page at a time on demand (MADV_RANDOM). Nothing is
// written or lost: the mappings are read-only and private, the pages stay in the page cache, and
// touching one again is a minor fault. Writable mappings are never touched.
package binpages

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Mapping is one read-only mapping of the executable.
type Mapping struct {
	Start, End uintptr
	Perms      string
}

// Mappings returns the read-only private mappings of the executable from a /proc/<pid>/maps
// text and the executable's path.
func Mappings(maps []byte, exe string) ([]Mapping, error) {
	var out []Mapping
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || strings.Join(f[5:], " ") != exe {
			continue
		}
		perms := f[1]
		if len(perms) != 4 || perms[0] != 'r' || perms[1] != '-' || perms[3] != 'p' {
			continue // writable (data) or shared: never dropped
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			return nil, fmt.Errorf("bad maps line %q", sc.Text())
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			return nil, fmt.Errorf("bad maps line %q", sc.Text())
		}
		out = append(out, Mapping{Start: uintptr(start), End: uintptr(end), Perms: perms})
	}
	return out, sc.Err()
}

// self returns the process's read-only executable mappings.
func self() ([]Mapping, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	return Mappings(maps, exe)
}
