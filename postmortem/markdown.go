package postmortem

import (
	"html"
	"html/template"
	"net/url"
	"strings"
)

// RenderMarkdown renders the written fields' Markdown as HTML, safely: a
// subset, with every character of the source escaped and only http(s),
// mailto and relative links kept. Blocks: paragraphs (separated by blank
// lines), headings (#, ##, ### become h3, h4, h5: the page's own sections
// are h2), bullet lists (-, *, +), numbered lists (1. or 1)), fenced code
// (```), quotes (>). Inline: `code`, **bold**, *italic*,
// [text](url). Anything else is text.
func RenderMarkdown(src string) template.HTML { return renderMarkdown(src, 0) }

// maxQuoteDepth bounds nested quotes: deeper ">" are text, so that a line
// of thousands of ">" costs a few passes, not one per ">".
const maxQuoteDepth = 4

func renderMarkdown(src string, depth int) template.HTML {
	var b strings.Builder
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	var para []string
	flush := func() {
		if len(para) > 0 {
			b.WriteString("<p>" + inline(strings.Join(para, "\n")) + "</p>\n")
			para = nil
		}
	}
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], " \t")
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			flush()
		case strings.HasPrefix(trimmed, "```"):
			flush()
			var code []string
			for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
				code = append(code, lines[i])
			}
			b.WriteString("<pre><code>" + html.EscapeString(strings.Join(code, "\n")) + "</code></pre>\n")
		case heading(trimmed) > 0:
			flush()
			n := heading(trimmed)
			tag := []string{"", "h3", "h4", "h5"}[min(n, 3)]
			b.WriteString("<" + tag + ">" + inline(strings.TrimSpace(trimmed[n:])) + "</" + tag + ">\n")
		case strings.HasPrefix(trimmed, ">") && depth < maxQuoteDepth:
			flush()
			var quote []string
			for ; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), ">"); i++ {
				quote = append(quote, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(lines[i]), ">")))
			}
			i--
			b.WriteString("<blockquote>" + string(renderMarkdown(strings.Join(quote, "\n"), depth+1)) + "</blockquote>\n")
		case bullet(trimmed) != "" || number(trimmed) != "":
			flush()
			ordered := bullet(trimmed) == ""
			tag := "ul"
			if ordered {
				tag = "ol"
			}
			b.WriteString("<" + tag + ">\n")
			var item []string
			end := func() {
				if item != nil {
					b.WriteString("<li>" + inline(strings.Join(item, "\n")) + "</li>\n")
				}
				item = nil
			}
			for ; i < len(lines); i++ {
				t := strings.TrimSpace(lines[i])
				text := bullet(t)
				if ordered {
					text = number(t)
				}
				switch {
				case text != "":
					end()
					item = []string{text}
				case t != "" && item != nil && (strings.HasPrefix(lines[i], " ") || strings.HasPrefix(lines[i], "\t")):
					item = append(item, t) // a continuation, indented
				default:
					goto done
				}
			}
		done:
			end()
			i--
			b.WriteString("</" + tag + ">\n")
		default:
			para = append(para, trimmed)
		}
	}
	flush()
	return template.HTML(b.String())
}

// heading is the level of a "# title" line, 0 when it is none.
func heading(s string) int {
	n := 0
	for n < len(s) && s[n] == '#' {
		n++
	}
	if n == 0 || n > 6 || n == len(s) || s[n] != ' ' {
		return 0
	}
	return n
}

// bullet is the text of a "- item" line, "" when it is none.
func bullet(s string) string {
	if len(s) > 2 && (s[0] == '-' || s[0] == '*' || s[0] == '+') && s[1] == ' ' {
		return strings.TrimSpace(s[2:])
	}
	return ""
}

// number is the text of a "1. item" line, "" when it is none.
func number(s string) string {
	n := 0
	for n < len(s) && n < 9 && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n == 0 || n+1 >= len(s) || (s[n] != '.' && s[n] != ')') || s[n+1] != ' ' {
		return ""
	}
	return strings.TrimSpace(s[n+2:])
}

// inline renders code spans, emphasis and links in s, escaping the rest.
func inline(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		switch {
		case s[0] == '`':
			if end := strings.IndexByte(s[1:], '`'); end >= 0 {
				b.WriteString("<code>" + html.EscapeString(s[1:1+end]) + "</code>")
				s = s[end+2:]
				continue
			}
		case strings.HasPrefix(s, "**"):
			if end := strings.Index(s[2:], "**"); end > 0 {
				b.WriteString("<strong>" + inline(s[2:2+end]) + "</strong>")
				s = s[end+4:]
				continue
			}
		case s[0] == '*' && len(s) > 1 && s[1] != ' ':
			if end := strings.IndexByte(s[1:], '*'); end > 0 {
				b.WriteString("<em>" + inline(s[1:1+end]) + "</em>")
				s = s[end+2:]
				continue
			}
		case s[0] == '[':
			if text, href, rest, ok := link(s); ok {
				b.WriteString(`<a href="` + html.EscapeString(href) + `">` + inline(text) + "</a>")
				s = rest
				continue
			}
		}
		// One character (a whole rune) as text.
		n := 1
		for n < len(s) && s[n]&0xC0 == 0x80 {
			n++
		}
		b.WriteString(html.EscapeString(s[:n]))
		s = s[n:]
	}
	return b.String()
}

// link reads "[text](href)" at the start of s; ok only for a safe href.
func link(s string) (text, href, rest string, ok bool) {
	mid := strings.Index(s, "](")
	if mid < 0 {
		return "", "", "", false
	}
	end := strings.IndexByte(s[mid+2:], ')')
	if end < 0 {
		return "", "", "", false
	}
	text, href, rest = s[1:mid], strings.TrimSpace(s[mid+2:mid+2+end]), s[mid+3+end:]
	if strings.ContainsAny(text, "[]") || !safeURL(href) {
		return "", "", "", false
	}
	return text, href, rest, true
}

// safeURL reports whether href is an http(s) or mailto URL, or relative.
func safeURL(href string) bool {
	u, err := url.Parse(href)
	if err != nil || href == "" {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "mailto":
		return true
	case "":
		// Browsers read "//host", "/\host" and "\\host" as another host.
		return !strings.HasPrefix(href, "//") && !strings.Contains(href, "\\")
	}
	return false
}
