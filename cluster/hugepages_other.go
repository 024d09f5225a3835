//go:build !linux

package cluster

// hugePages does nothing outside Linux.
func hugePages[T any](s []T) {}
