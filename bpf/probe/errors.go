package probe

import "outboundlens/bpf/records"

// Error carries a stable code for the record stream (the "code" of an error
// record): the probe's errors and the helper's errors about its target alike.
type Error struct {
	Code records.Code
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }
