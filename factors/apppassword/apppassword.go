// Package apppassword makes and checks app passwords: random passwords a
// user creates for a legacy app that cannot do MFA. They carry 160 random
// bits, so a fast hash (SHA-256) is enough: a stolen database is no use
// for guessing them, and checking one costs microseconds, not the
// milliseconds of a password hash.
package apppassword

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Name lengths, in characters: a name says which app the password is for,
// and the NHSmail guidance asks for at least eight.
const (
	MinName = 8
	MaxName = 64
)

// encoding is lower-case base32: letters and the digits 2 to 7, nothing
// that reads as another character.
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// New makes an app password named name for userID: the password, in groups
// of four to read and type, shown once; and the record to store.
func New(userID, name string, now time.Time) (string, storage.AppPassword, error) {
	name = strings.Join(strings.Fields(name), " ")
	if n := utf8.RuneCountInString(name); n < MinName || n > MaxName {
		return "", storage.AppPassword{}, &factors.InputError{Field: "name", Msg: "Name it with 8 to 64 characters, such as the app and device it is for"}
	}
	raw := encoding.EncodeToString(random(20)) // 32 characters, 160 bits
	var groups []string
	for i := 0; i < len(raw); i += 4 {
		groups = append(groups, raw[i:i+4])
	}
	return strings.Join(groups, "-"), storage.AppPassword{ID: storage.NewID(), UserID: userID, Name: name, Hash: hash(raw), CreatedAt: now}, nil
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never returns an error (crypto/rand docs, Go 1.24+)
	return b
}

// hash is the stored form of a password: SHA-256 of it as generated, so
// that the groups' dashes, spaces and capitals an app or a person adds do
// not matter.
func hash(password string) []byte {
	h := sha256.Sum256([]byte(strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(password))))
	return h[:]
}

// Match returns the one of list that password is. Every one is compared,
// in constant time.
func Match(list []storage.AppPassword, password string) (storage.AppPassword, bool) {
	h := hash(password)
	var found storage.AppPassword
	ok := 0
	for _, p := range list {
		if subtle.ConstantTimeCompare(p.Hash, h) == 1 {
			found, ok = p, 1
		}
	}
	return found, ok == 1
}
