package trace

// SetSpillRows makes index builds store their rows every n rows, until the
// returned function restores the default.
func SetSpillRows(n int) (restore func()) {
	old := spillRows
	spillRows = n
	return func() { spillRows = old }
}
