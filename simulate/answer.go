package simulate

import (
	"hash/fnv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultAnswerWords is the length of an answer when Options.AnswerWords is 0.
const DefaultAnswerWords = 24

// Message is one chat message as the simulator sees it: content parts of type
// "text" are joined with "\n", other parts are ignored.
type Message struct {
	Role    string
	Content string
}

// Answer returns the text the simulator answers with DefaultAnswerWords
// words. It depends only on the provider, the model and the messages, so a
// test can predict the exact reply. See Simulator.Answer for other lengths.
func Answer(provider, model string, messages ...Message) string {
	return strings.Join(answerTokens(provider, model, messages, DefaultAnswerWords), "")
}

// Answer returns the text s answers to these messages, with s's AnswerWords.
func (s *Simulator) Answer(provider, model string, messages ...Message) string {
	return strings.Join(answerTokens(provider, model, messages, s.words), "")
}

// answerTokens returns the answer as stream deltas: the first word
// capitalised, each later word with its leading space, a full stop at the end.
// Concatenated, they are the non-stream content.
func answerTokens(provider, model string, messages []Message, n int) []string {
	h := fnv.New64a()
	write := func(s string) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	write(provider)
	write(model)
	for _, m := range messages {
		write(m.Role)
		write(m.Content)
	}
	rng := splitmix{state: h.Sum64()}
	tokens := make([]string, n)
	for i := range tokens {
		w := wordList[rng.next()%uint64(len(wordList))]
		switch {
		case i == 0:
			r, size := utf8.DecodeRuneInString(w)
			w = string(unicode.ToUpper(r)) + w[size:]
		default:
			w = " " + w
		}
		if i == n-1 {
			w += "."
		}
		tokens[i] = w
	}
	return tokens
}

// promptTokens counts the words of the input messages; it stands in for the
// prompt's token count.
func promptTokens(messages []Message) int {
	n := 0
	for _, m := range messages {
		n += len(strings.Fields(m.Content))
	}
	return n
}

// splitmix is SplitMix64: a tiny PRNG whose output is fixed by its seed, on
// every platform and Go version.
type splitmix struct{ state uint64 }

func (s *splitmix) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// wordList is read-only: the vocabulary of every answer.
var wordList = [...]string{
	"the", "assistant", "keeps", "answering", "while", "providers", "fail", "and",
	"recover", "quietly", "steady", "harbor", "lantern", "signal", "river", "bridge",
	"morning", "careful", "answer", "gentle", "request", "stream", "token", "model",
	"backup", "route", "patient", "clear", "summary", "window", "garden", "compass",
	"north", "bright", "simple", "honest", "notice", "status", "update", "because",
	"every", "message", "arrives", "safely", "across", "the", "network", "today",
	"with", "care", "for", "users", "who", "wait", "calmly", "until", "service",
	"returns", "soon", "again", "after", "short", "pause", "here",
}
