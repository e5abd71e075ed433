package chat

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Continuation modes: how a target is asked to continue a partial answer.
const (
	// ContinueNative: a final assistant message is a prefill the model
	// continues (Anthropic Messages).
	ContinueNative = "native"
	// ContinuePrefix: the final assistant message carries "prefix": true
	// (Mistral, DeepSeek).
	ContinuePrefix = "prefix"
	// ContinueFinalMessage: the request carries "continue_final_message":
	// true and "add_generation_prompt": false (vLLM, SGLang).
	ContinueFinalMessage = "continue_final_message"
	// ContinueInstruction: the partial answer is an assistant message followed
	// by a user message asking to continue it (any model).
	ContinueInstruction = "instruction"
)

// ContinueInstructionText is the user message of instruction-based
// continuation.
const ContinueInstructionText = "Your previous answer was cut off. Continue it exactly where it stopped: " +
	"do not repeat anything already written, add no preamble or comment, output only the rest of the answer."

// Continue returns a copy of the request asking for the rest of partial, an
// answer cut short, in the given mode. Every other field is kept as sent.
func (r *Request) Continue(partial, mode string) *Request {
	var add []byte
	switch mode {
	case ContinueInstruction:
		add = appendMessage(add, map[string]any{"role": "assistant", "content": partial})
		add = append(add, ',')
		add = appendMessage(add, map[string]any{"role": "user", "content": ContinueInstructionText})
	case ContinuePrefix:
		add = appendMessage(add, map[string]any{"role": "assistant", "content": partial, "prefix": true})
	default: // native, continue_final_message
		add = appendMessage(add, map[string]any{"role": "assistant", "content": partial})
	}
	body := make([]byte, 0, len(r.body)+len(add)+64)
	body = append(body, r.body[:r.msgsEnd]...)
	body = append(body, ',')
	body = append(body, add...)
	body = append(body, r.body[r.msgsEnd:]...)
	if mode == ContinueFinalMessage {
		// Insert the flags right after the opening brace.
		i := indexByte(body, '{')
		flags := []byte(`"continue_final_message":true,"add_generation_prompt":false,`)
		body = append(body[:i+1], append(flags, body[i+1:]...)...)
	}
	out, err := ParseRequest(body)
	if err != nil {
		// Cannot happen: the body was valid and we added valid JSON.
		panic("chat: continuation body invalid: " + err.Error())
	}
	return out
}

func appendMessage(b []byte, m map[string]any) []byte {
	j, _ := json.Marshal(m)
	return append(b, j...)
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// minOverlap is the shortest repeat at a seam that is trimmed, in bytes;
// a repeat must also span at least minOverlapWords words. Shorter matches (a
// space, a letter, one word as in "summary summary") are as likely to be
// genuine text as an echo.
const (
	minOverlap      = 4
	minOverlapWords = 2
)

// SeamOverlap returns how many leading bytes of cont repeat the end of sent
// and should be dropped: the longest k with cont[:k] == sent[len(sent)-k:],
// starting at a word boundary of sent, of at least minOverlap bytes and
// minOverlapWords words. 0 when there is no such repeat.
func SeamOverlap(sent, cont string) int {
	max := min(len(sent), len(cont))
	for k := max; k >= minOverlap; k-- {
		if sent[len(sent)-k:] != cont[:k] {
			continue
		}
		start := len(sent) - k
		if (start == 0 || atWordStart(sent, start)) && len(strings.Fields(cont[:k])) >= minOverlapWords {
			return k
		}
	}
	return 0
}

// SeamPending reports whether more of the continuation is needed to decide
// the overlap: some longer end of sent, starting at a word boundary, still
// begins with cont. When false, SeamOverlap(sent, cont) is final, so a
// continuation that does not repeat is relayed at once.
func SeamPending(sent, cont string, lookBack int) bool {
	for k := len(cont) + 1; k <= min(len(sent), lookBack); k++ {
		start := len(sent) - k
		if strings.HasPrefix(sent[start:], cont) && (start == 0 || atWordStart(sent, start)) {
			return true
		}
	}
	return false
}

// atWordStart: the byte at i begins a word or is whitespace following a word.
func atWordStart(s string, i int) bool {
	prev, _ := utf8.DecodeLastRuneInString(s[:i])
	cur, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.IsSpace(prev) || unicode.IsSpace(cur) || unicode.IsPunct(prev)
}

// TrimTrailingSpace returns s without trailing whitespace, and what was cut.
// Some providers refuse a prefill that ends in whitespace.
func TrimTrailingSpace(s string) (string, string) {
	t := strings.TrimRightFunc(s, unicode.IsSpace)
	return t, s[len(t):]
}
