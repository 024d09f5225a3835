//go:build unix

package btcdtest

import "syscall"

// killGroup kills the process group that btcd leads (Setpgid).
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
