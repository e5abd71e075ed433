package health

import "time"

// numBuckets is how many time buckets a window is cut into. The window
// therefore covers between Window-Window/numBuckets and Window of history.
const numBuckets = 10

// bucket counts the requests that ended during one slice of the window.
type bucket struct {
	epoch    int64 // which slice of time (now / bucket width) the counts belong to
	ok, fail int
}

// window counts successes and failures over a sliding window of time, in
// fixed buckets: recording and summing never allocate.
type window struct {
	width   int64 // bucket width in nanoseconds, ≥ 1
	buckets [numBuckets]bucket
}

func newWindow(d time.Duration) window {
	w := int64(d) / numBuckets
	if w < 1 {
		w = 1
	}
	return window{width: w}
}

func (w *window) epoch(now time.Time) int64 { return now.UnixNano() / w.width }

// record counts one request that ended at now.
func (w *window) record(now time.Time, failed bool) {
	e := w.epoch(now)
	b := &w.buckets[mod(e, numBuckets)]
	if b.epoch != e {
		*b = bucket{epoch: e}
	}
	if failed {
		b.fail++
	} else {
		b.ok++
	}
}

// counts returns the requests and failures that ended within the window.
func (w *window) counts(now time.Time) (requests, failures int) {
	e := w.epoch(now)
	for i := range w.buckets {
		b := &w.buckets[i]
		if b.epoch <= e && e-b.epoch < numBuckets {
			requests += b.ok + b.fail
			failures += b.fail
		}
	}
	return requests, failures
}

// reset forgets everything.
func (w *window) reset() { w.buckets = [numBuckets]bucket{} }

func mod(a, n int64) int64 {
	m := a % n
	if m < 0 {
		m += n
	}
	return m
}
