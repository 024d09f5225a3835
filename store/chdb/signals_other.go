//go:build !linux || !(amd64 || arm64)

package chdb

type signalTable struct{}

func saveSignals() *signalTable   { return nil }
func restoreSignals(*signalTable) {}
