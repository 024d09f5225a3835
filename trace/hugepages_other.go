//go:build !linux

package trace

// hugePages does nothing outside Linux.
func hugePages[T any](s []T) {}
