package gateway

import (
	"fmt"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/chat"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/provider"
)

// Mid-stream continuation. When a stream breaks after text reached the
// client (cut, reset, stall, an error event), the exchange goes on to the
// next targets with a continuation request: the conversation plus the
// partial answer, as a prefill where the target supports one, else with an
// instruction. The client keeps receiving one stream: same id, no text lost
// or repeated at the seam, one final chunk and [DONE]. A tool call already
// partly sent is never continued.

// streamBroke handles a failure after this attempt sent bytes.
func (x *exchange) streamBroke(t routeTarget, f *provider.Failure) (action, time.Duration) {
	if f.Class == understudy.ClassCanceled {
		x.finish(t, "client_canceled", f)
		return actDone, 0
	}
	f.Target = t.id
	if x.stream.broken == nil {
		x.stream.broken = f
	}
	x.failed = true
	x.notes = append(x.notes, t.id+": stream broke mid-answer ("+string(f.Class)+")")
	ok, why := x.stream.continuable()
	switch {
	case f.Class == understudy.ClassDeadline:
		ok, why = false, "the request reached its total time limit"
	case x.req.N > 1:
		ok, why = false, "several choices (n > 1) cannot be continued"
	case x.route.resumeDisabled:
		ok, why = false, ""
	}
	if !ok {
		x.finish(t, "stream_broken", f)
		x.g.emit(understudy.Event{Type: understudy.EventStreamBroken, Route: x.route.name, Target: t.id,
			Message: fmt.Sprintf("stream from %s broke after the answer began: %s", t.id, f.Message)})
		x.endStream(f, why)
		return actDone, 0
	}
	x.g.log.Info("stream broke mid-answer: continuing on the next target", "route", x.route.name, "target", t.id,
		"class", f.Class, "sent_bytes", x.stream.text.Len())
	x.g.metrics.failovers.WithLabelValues(x.route.name, t.id, string(f.Class)).Inc()
	return actNext, 0
}

// continuationMode is how t is asked to continue the answer.
func (x *exchange) continuationMode(t routeTarget) string {
	if x.instruction[t.id] {
		return chat.ContinueInstruction
	}
	switch t.continuation {
	case config.ContinueNative:
		return chat.ContinueNative
	case config.ContinuePrefix:
		return chat.ContinuePrefix
	case config.ContinueFinalMessage:
		return chat.ContinueFinalMessage
	}
	return chat.ContinueInstruction
}

// continuationFailed handles a continuation attempt that failed before
// sending anything. Its errors are never returned to the client (the stream
// has begun): a refused prefill is retried once with an instruction, any
// other final error moves on. ok is false when the usual rules apply.
func (x *exchange) continuationFailed(t routeTarget, f *provider.Failure) (action, bool) {
	switch f.Class {
	case understudy.ClassInvalid, understudy.ClassContentFilter, understudy.ClassNotImpl, understudy.ClassContextLength:
	default:
		return 0, false
	}
	if f.Untranslatable {
		x.notes = append(x.notes, t.id+": "+f.Message)
		return actNext, true
	}
	if x.continuationMode(t) != chat.ContinueInstruction && f.Class == understudy.ClassInvalid {
		if x.instruction == nil {
			x.instruction = make(map[string]bool)
		}
		x.instruction[t.id] = true
		x.notes = append(x.notes, t.id+": refused the prefill, retrying with an instruction")
		return actRetrySame, true
	}
	x.notes = append(x.notes, t.id+": could not continue ("+describe(f)+")")
	return actNext, true
}
