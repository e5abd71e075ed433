package simulate

import (
	"slices"
	"strings"
	"unicode"
)

// Continuations. A gateway that loses a stream mid-answer asks another
// provider to continue it; the simulator answers such a request with the rest
// of the answer the interrupted provider was giving, so that the text the
// client received before the break followed by the continuation is exactly
// the full deterministic answer.
//
// Let A be the answer to the messages before the partial answer P (an
// assistant message), and T be P with trailing whitespace removed. The request
// is a continuation when T is a prefix of A, byte for byte, and either
//
//   - native prefill: P is the last message (with or without OpenAI-compatible
//     servers' "prefix": true on it or "continue_final_message": true on the
//     request, which are accepted and mean the same); T may be empty (the
//     continuation is then all of A) or all of A (the continuation is empty);
//   - instruction-based: P is followed by exactly one user message, whatever
//     its text, and T is neither empty nor all of A (a complete earlier answer
//     followed by a user message is an ordinary multi-turn conversation).
//
// The answer is then A[len(T):]: it keeps A's spacing, so T + answer == A. A
// word cut in the middle continues from the cut ("The s" → "ky is …"); a
// prefill whose trailing space was trimmed gets the space back at the start of
// the continuation ("The sky " → " is …"), as a model would. A gateway that
// trimmed whitespace it had already delivered to its client drops as much
// from the continuation's start. The continuation streams like any answer:
// its first chunk is the rest of a cut word if any, then one chunk per word;
// usage counts those chunks as completion tokens, and all messages (P and the
// instruction included) as prompt tokens.
//
// A Fault's Overlap makes the continuation first repeat the last Overlap
// words of T — whole words, each with its leading space, a cut word counting
// as one — as models do, so that a gateway's seam trimming can be tested.
//
// Any other request, including one whose P is not a prefix of A, is answered
// with Answer of all its messages.

// plan is the answer a request asks for: the full deterministic answer and,
// for a continuation, how many of its bytes the caller already has.
type plan struct {
	tokens    []string // the full answer, as stream deltas
	cut       int      // len(T): bytes of the answer the caller has
	continued bool     // the request is a continuation
}

// plan works out what to answer to msgs; see the rules above.
func (s *Simulator) plan(provider, model string, msgs []Message) plan {
	if s.sameAnswers {
		provider, model = "", ""
	}
	n := len(msgs)
	try := func(base []Message, prefill string, instruction bool) (plan, bool) {
		tokens := answerTokens(provider, model, base, s.words)
		full := strings.Join(tokens, "")
		cut := len(strings.TrimRightFunc(prefill, unicode.IsSpace))
		if !strings.HasPrefix(full, prefill[:cut]) || instruction && (cut == 0 || cut == len(full)) {
			return plan{}, false
		}
		return plan{tokens: tokens, cut: cut, continued: true}, true
	}
	if n >= 1 && msgs[n-1].Role == "assistant" {
		if p, ok := try(msgs[:n-1], msgs[n-1].Content, false); ok {
			return p
		}
	}
	if n >= 2 && msgs[n-1].Role == "user" && msgs[n-2].Role == "assistant" {
		if p, ok := try(msgs[:n-2], msgs[n-2].Content, true); ok {
			return p
		}
	}
	return plan{tokens: answerTokens(provider, model, msgs, s.words)}
}

// reply returns the deltas to send: the whole answer, or for a continuation
// the rest of it after the caller's part, preceded by its last overlap words.
func (p plan) reply(overlap int) []string {
	if !p.continued {
		return slices.Clone(p.tokens)
	}
	// tokens[:j] lie within the caller's part, which ends inside tokens[j] if partial.
	j, off := 0, 0
	for j < len(p.tokens) && off+len(p.tokens[j]) <= p.cut {
		off += len(p.tokens[j])
		j++
	}
	partial := off < p.cut
	if overlap > 0 {
		start := j - overlap
		if partial {
			start++
		}
		return slices.Clone(p.tokens[max(start, 0):])
	}
	if !partial {
		return slices.Clone(p.tokens[j:])
	}
	return append([]string{p.tokens[j][p.cut-off:]}, p.tokens[j+1:]...)
}

// Continuation returns what the simulator answers to a continuation of the
// answer full whose partial answer is prefix, without overlap: full after
// prefix with its trailing whitespace removed. It returns "" if that is not a
// prefix of full (the simulator would then not treat the request as a
// continuation).
func Continuation(full, prefix string) string {
	t := strings.TrimRightFunc(prefix, unicode.IsSpace)
	rest, ok := strings.CutPrefix(full, t)
	if !ok {
		return ""
	}
	return rest
}
