package sts

import (
	"html"
	"mime"
	"strings"
)

// proxyHint ends every description of a non-Entra answer: Entra itself always
// answers a token request with JSON, so anything else came from something in
// between, and saying so saves the user an afternoon of suspecting their secret.
const proxyHint = " (a proxy or gateway may be in the way)"

// describeBody explains an answer that is not an Entra error, from its status,
// Content-Type and (trimmed) body. Only an error page's <title>, or the start of
// a plain-text error, is quoted, scrubbed and shortened; a 2xx body is never
// quoted because it answered a token request and may hold a token.
func describeBody(status int, contentType string, body []byte, sc scrubber) string {
	success := status >= 200 && status < 300
	if len(body) == 0 {
		return "the answer has an empty body, not an Entra error" + proxyHint
	}
	kind := mediaType(contentType)
	var msg string
	if kind == "" {
		msg = "the answer has a body with no content type, not an Entra error"
	} else {
		msg = "the answer has " + article(kind) + " " + kind + " body, not an Entra error"
	}
	msg += proxyHint
	if success {
		return msg
	}
	if title := htmlTitle(body); title != "" {
		if t := display(sc, html.UnescapeString(title), 100); t != "" {
			msg += `; page title: "` + t + `"`
		}
	} else if strings.HasPrefix(kind, "text/plain") {
		if t := display(sc, string(body[:min(len(body), 4096)]), 100); t != "" {
			msg += `; body begins: "` + t + `"`
		}
	}
	return msg
}

// mediaType extracts the media type from a Content-Type header for display,
// dropping parameters. A header that does not parse is shown only if it looks
// like a media type, so that it cannot inject text into the message.
func mediaType(contentType string) string {
	if contentType == "" {
		return ""
	}
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		return truncate(mt, 60)
	}
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	for _, r := range mt {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("/+-.", r)) {
			return "unrecognised"
		}
	}
	if mt == "" {
		return "unrecognised"
	}
	return truncate(mt, 60)
}

// article picks "a" or "an" for a media type.
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// htmlTitle returns the raw text of the first <title> element in body, or "".
// Matching is ASCII case-insensitive over a length-preserving copy so that
// indexes found in the copy are valid in the original.
func htmlTitle(body []byte) string {
	lower := asciiLower(body)
	start := strings.Index(lower, "<title")
	if start < 0 {
		return ""
	}
	open := strings.IndexByte(lower[start:], '>')
	if open < 0 {
		return ""
	}
	textStart := start + open + 1
	end := strings.Index(lower[textStart:], "</title")
	if end < 0 {
		return ""
	}
	return string(body[textStart : textStart+end])
}

// asciiLower lowercases A-Z only. Unicode case mapping can change a string's
// length, which would misalign indexes between the copy and the original.
func asciiLower(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return string(out)
}
