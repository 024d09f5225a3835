//go:build !linux

package cluster

import "slices"

// mappedGrow grows s on the Go heap outside Linux.
func mappedGrow[T any](s []T, n int) []T {
	if n <= cap(s) {
		return s
	}
	return slices.Grow(s, n-len(s))
}

// mappedFree leaves s to the collector outside Linux.
func mappedFree[T any](s []T) {}
