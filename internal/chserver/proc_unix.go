//go:build unix

package chserver

import (
	"errors"
	"syscall"
)

// killGroup kills the process group that the server leads (Setpgid).
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
