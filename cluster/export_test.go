package cluster

// SetTried makes l call f after each lock attempt. Set it before Run.
func SetTried(l *Leader, f func(got bool, err error)) { l.tried = f }

// ListenerPID is the backend pid of b's listener connection, 0 while it is
// not connected.
func ListenerPID(b *Bus) uint32 { return b.pid.Load() }

// Deliver fans m out to b's subscribers as the listener does.
func Deliver(b *Bus, m *Message) { b.deliver(m) }
