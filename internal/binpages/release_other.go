//go:build !linux

package binpages

// Release does nothing outside Linux.
func Release() (int, error) { return 0, nil }
