package password

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/match"
)

const (
	// MinLength and MaxLength bound a new password, in characters. NIST SP
	// 800-63B asks for at least 8 and for accepting at least 64; the upper
	// bound keeps a hash request from being an amplification vector.
	MinLength = 8
	MaxLength = 256

	// MinScore is the zxcvbn score a new password needs: 3 means an
	// estimated 10^8 guesses or more, "safely unguessable" by zxcvbn's
	// reckoning, which assumes a slow hash such as our argon2id. No
	// composition rules: NIST SP 800-63B 3.1.1.2 advises against them.
	MinScore = 3

	// scoredLength is how many characters zxcvbn scores. Its matching is
	// quadratic in length and more for characters that may stand for
	// letters (4, @, 1, |, 7...): BenchmarkCheckPolicy measures it. A
	// password strong in its first 100 characters is strong.
	scoredLength = 100
)

// Errors CheckPolicy returns. Each is worded to follow "Your new " on the
// page that asks for a password.
var (
	ErrTooShort  = fmt.Errorf("password must be at least %d characters", MinLength)
	ErrTooLong   = fmt.Errorf("password must be at most %d characters", MaxLength)
	ErrCommon    = errors.New("password is one of the most common passwords")
	ErrGuessable = errors.New("password is too easy to guess: add another word or two")
)

// ContextError refuses a password that is too easy to guess because it is
// built on its owner's or the service's own words.
type ContextError struct {
	What string // "your username"
}

func (e ContextError) Error() string { return "password contains " + e.What }

// Context is what an attacker guessing someone's password knows already:
// NIST SP 800-63B's context-specific words. Empty fields are ignored.
type Context struct {
	Username    string
	Email       string
	DisplayName string
	// Service is the service's own words: its name and the issuer's host.
	Service []string
}

// CheckPolicy reports why pw is unacceptable as a new password for the
// owner c describes, or nil: too short or long, or too easy to guess by
// zxcvbn's estimate, which counts common passwords, dictionary words,
// names, keyboard patterns, dates, repeats and c's words (with l33t
// substitutions, reversals and capitals) as the few guesses they are.
func CheckPolicy(pw string, c Context) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinLength:
		return ErrTooShort
	case n > MaxLength:
		return ErrTooLong
	}
	words, whose := c.words()
	r := zxcvbn.PasswordStrength(prefix(pw, scoredLength), words)
	if r.Score >= MinScore {
		return nil
	}
	return why(r.Sequence, whose)
}

// why names the weakness in zxcvbn's cheapest guess of a password: a
// context word first, since the user can see what to drop; then a common
// password on its own; else a generic "too easy to guess".
func why(seq []*match.Match, whose map[string]string) error {
	for _, m := range seq {
		if what, ok := whose[m.MatchedWord]; ok && m.DictionaryName == userInputs {
			return ContextError{What: what}
		}
	}
	if len(seq) == 1 && seq[0].DictionaryName == "passwords" {
		return ErrCommon
	}
	return ErrGuessable
}

// userInputs is the name zxcvbn gives the dictionary of words it is passed.
const userInputs = "user_inputs"

// words lists c's words for zxcvbn, most likely guesses first (zxcvbn
// ranks them by position), and says whose each is. A field counts whole
// and word by word, so "alice.smith@example.org" also gives "alice.smith",
// "alice", "smith" and "example"; words under three characters match too
// much else to count.
func (c Context) words() ([]string, map[string]string) {
	var list []string
	whose := map[string]string{}
	add := func(what string, values ...string) {
		for _, v := range values {
			v = strings.ToLower(strings.TrimSpace(v))
			parts := strings.FieldsFunc(v, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
			for _, w := range append([]string{v}, parts...) {
				if _, seen := whose[w]; seen || utf8.RuneCountInString(w) < 3 {
					continue
				}
				list = append(list, w)
				whose[w] = what
			}
		}
	}
	add("your username", c.Username)
	local, _, _ := strings.Cut(c.Email, "@")
	add("your email address", c.Email, local)
	add("your name", c.DisplayName)
	add("the name of this site", c.Service...)
	return list, whose
}

// prefix is s's first n characters.
func prefix(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
