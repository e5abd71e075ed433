package email

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// envelope is what a message is built from besides its content.
type envelope struct {
	From    mail.Address
	To      string // bare address
	Date    time.Time
	Unsub   string // one-click unsubscribe URL; "" when none
	Domain  string // right-hand side of Message-IDs
	Content content
}

// build renders a complete RFC 5322 message, CRLF line endings, and
// returns it with its Message-ID.
func build(e envelope) ([]byte, string, error) {
	html, err := e.Content.html()
	if err != nil {
		return nil, "", err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range []struct{ typ, text string }{
		{"text/plain; charset=utf-8", e.Content.text()},
		{"text/html; charset=utf-8", html},
	} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.typ},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, "", err
		}
		qw := quotedprintable.NewWriter(pw)
		if _, err := qw.Write([]byte(p.text)); err != nil {
			return nil, "", err
		}
		if err := qw.Close(); err != nil {
			return nil, "", err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}

	id, err := messageID(e.Domain)
	if err != nil {
		return nil, "", err
	}
	var b bytes.Buffer
	header(&b, "From", e.From.String())
	header(&b, "To", (&mail.Address{Address: e.To}).String())
	header(&b, "Subject", mime.QEncoding.Encode("utf-8", clean(e.Content.Subject)))
	header(&b, "Date", e.Date.Format(time.RFC1123Z))
	header(&b, "Message-ID", id)
	if e.Content.thread != "" {
		// Not In-Reply-To: a notification answers nothing. References
		// alone lets mail clients group messages about one thing.
		header(&b, "References", "<"+atext(e.Content.thread)+"@"+e.Domain+">")
	}
	header(&b, "MIME-Version", "1.0")
	header(&b, "Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	header(&b, "Content-Language", e.Content.Lang)
	if e.Unsub != "" {
		header(&b, "List-Unsubscribe", "<"+e.Unsub+">")
		// RFC 8058 one-click works with an HTTPS URI only.
		if strings.HasPrefix(e.Unsub, "https://") {
			header(&b, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
		}
	}
	header(&b, "Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	b.Write(body.Bytes())
	return b.Bytes(), id, nil
}

// messageID is a new, unique Message-ID: 128 random bits at domain.
func messageID(domain string) (string, error) {
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("message-id: %w", err)
	}
	return "<" + hex.EncodeToString(r[:]) + "@" + domain + ">", nil
}

// atext keeps letters, digits and '-' of s and turns anything else into
// '-', so that s can be the left part of a Message-ID ("provider:openai"
// has a colon, which may not be there).
func atext(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 && (r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return r
		}
		return '-'
	}, s)
}

// clean replaces control characters (CR and LF above all: header
// injection) with spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// maxLine is the line length headers are folded at (RFC 5322 2.1.1: 78
// SHOULD; 998 MUST).
const maxLine = 78

// header writes "name: value" folded at spaces so that lines stay under
// maxLine where the value allows it. value must be ASCII (encoded-words for
// anything else) and free of CR and LF.
func header(b *bytes.Buffer, name, value string) {
	line := len(name) + 2
	b.WriteString(name)
	b.WriteString(":")
	for i, w := range strings.Split(clean(value), " ") {
		switch {
		case i == 0:
			b.WriteString(" ")
		case line+1+len(w) > maxLine:
			b.WriteString("\r\n ")
			line = 1
		default:
			b.WriteString(" ")
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	b.WriteString("\r\n")
}
