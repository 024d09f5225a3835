//go:build !linux

package cluster

import "os"

// dropCache does nothing outside Linux.
func dropCache(f *os.File, off, n int64) {}
