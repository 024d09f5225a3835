package chserver

import "syscall"

// sysProcAttr puts the server in its own process group, so that Close can
// kill it with anything it forked, and has the kernel kill it when the test
// binary dies (panic, timeout, SIGKILL) without calling Close.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
