//go:build unix && !linux

package chserver

import "syscall"

// sysProcAttr puts the server in its own process group, so that Close can
// kill it with anything it forked. Only Linux can also tie its life to ours.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
