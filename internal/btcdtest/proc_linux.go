package btcdtest

import "syscall"

// sysProcAttr puts btcd in its own process group and has the kernel kill it
// when the test binary dies (panic, timeout, SIGKILL) before its cleanup.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
