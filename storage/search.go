package storage

import (
	"slices"
	"strings"
	"unicode"
)

// SearchKey is the form SearchUsers compares names in: lower case,
// single spaces.
func SearchKey(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// SearchTerms are the keys SearchUsers finds u by, sorted, each once: the
// username, email and display name, each later word of the name and each
// later part of a word split at punctuation ("mary-jane" gives "jane"). A
// prefix of the name or of a word needs no term of its own.
func SearchTerms(u User) []string {
	name := SearchKey(u.DisplayName)
	terms := []string{SearchKey(u.Username), SearchKey(u.Email), name}
	for i, w := range strings.Fields(name) {
		if i > 0 {
			terms = append(terms, w)
		}
		for j, part := range strings.FieldsFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) }) {
			if j > 0 || !strings.HasPrefix(w, part) {
				terms = append(terms, part)
			}
		}
	}
	slices.Sort(terms)
	return slices.DeleteFunc(slices.Compact(terms), func(t string) bool { return t == "" || strings.Contains(t, "\x00") })
}
