// Package shell runs programs to completion and renders command lines for
// people: every environment the lab starts and every command it runs is
// logged as one line that can be pasted into a shell to run it again by
// hand, and a failure says which line failed and how it ended. It reads no
// environment variables.
package shell

import "strings"

// plain holds the characters a POSIX shell takes literally in a word.
const plain = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%"

// Quote returns argv as one shell-safe line: plain words as they are, the
// others in single quotes.
func Quote(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.Trim(a, plain) == "" {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}
