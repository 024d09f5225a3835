//go:build linux && (amd64 || arm64)

package chdb

import (
	"syscall"
	"unsafe"
)

// Booting the engine resets the handlers of SIGSEGV, SIGBUS, SIGFPE,
// SIGILL, SIGTRAP, SIGABRT and SIGSYS (to SIG_DFL when its handlers are
// disabled with chdb_set_signal_handlers_enabled(0), to its crash reporter
// otherwise). Those are the Go runtime's: without them a nil-pointer
// dereference anywhere in the process kills it instead of panicking. So we
// read the kernel's table before chdb_connect and put back every handler
// that was set (the Go runtime's) and has changed. Handlers chDB adds on
// signals that had none (SIGRTMIN, for its stack-trace collector) stay.

// kernelSigaction is struct sigaction as rt_sigaction(2) takes it on
// Linux (not glibc's layout): handler, flags, restorer, then the mask.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const maxSignal = 64

type signalTable [maxSignal + 1]kernelSigaction

func saveSignals() *signalTable {
	var t signalTable
	for s := 1; s <= maxSignal; s++ {
		rtSigaction(s, nil, &t[s])
	}
	return &t
}

func restoreSignals(saved *signalTable) {
	for s := 1; s <= maxSignal; s++ {
		old := saved[s]
		if old.handler == 0 || old.handler == 1 { // SIG_DFL, SIG_IGN: not Go's
			continue
		}
		var now kernelSigaction
		if rtSigaction(s, nil, &now) != nil || now == old {
			continue
		}
		_ = rtSigaction(s, &old, nil)
	}
}

func rtSigaction(sig int, act, old *kernelSigaction) error {
	_, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig),
		uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), 8, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
