//go:build unix && !linux

package btcdtest

import "syscall"

// sysProcAttr puts btcd in its own process group. Only Linux can also tie
// its life to ours.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
