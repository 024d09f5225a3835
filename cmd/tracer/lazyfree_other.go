//go:build !linux

package main

// reexecLazyFree does nothing: MADV_FREE against MADV_DONTNEED is a choice
// the Go runtime makes on Linux only.
func reexecLazyFree() {}
