package password

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fast keeps the tests quick; the format and logic are what is under test.
var fast = Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(fast, 2)
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("Hash() = %q, want a PHC argon2id string", enc)
	}
	tests := []struct {
		pw   string
		want bool
	}{
		{"correct horse battery staple", true},
		{"correct horse battery stapl", false},
		{"", false},
	}
	for _, tt := range tests {
		ok, rehash, err := h.Verify(ctx, enc, tt.pw)
		if err != nil || ok != tt.want || rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want %v, false, nil", tt.pw, ok, rehash, err, tt.want)
		}
	}
	enc2, _ := h.Hash(ctx, "correct horse battery staple")
	if enc2 == enc {
		t.Error("two hashes of one password are equal: salt is not random")
	}
}

func TestVerifyReportsRehash(t *testing.T) {
	ctx := context.Background()
	old, _ := NewHasher(fast, 1).Hash(ctx, "password1")
	h := NewHasher(Params{MemoryKiB: 128, Iterations: 1, Parallelism: 1}, 1)
	ok, rehash, err := h.Verify(ctx, old, "password1")
	if !ok || !rehash || err != nil {
		t.Errorf("Verify(old params) = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
}

func TestMalformedHash(t *testing.T) {
	h := NewHasher(fast, 1)
	for _, enc := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$a2V5",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdA$a2V5",
		"$argon2id$v=19$m=0,t=1,p=1$c2FsdA$a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$!!$a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$",
	} {
		if _, _, err := h.Verify(context.Background(), enc, "x"); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("Verify(%q) error = %v, want ErrMalformedHash", enc, err)
		}
	}
}

func TestBusy(t *testing.T) {
	h := NewHasher(fast, 1)
	h.slots <- struct{}{} // occupy the only slot
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "password1"); !errors.Is(err, ErrBusy) {
		t.Errorf("Hash() with no free slot = %v, want ErrBusy", err)
	}
}

// TestLoad: the hashes computing, those queued for a slot, and the slots,
// as metrics show them; a queued hash that gives up leaves the queue.
func TestLoad(t *testing.T) {
	h := NewHasher(fast, 1)
	h.slots <- struct{}{} // a hash holds the only slot
	waitFor := func(hashing, waiting int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			gotH, gotW, slots := h.Load()
			if gotH == hashing && gotW == waiting && slots == 1 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Load() = %d hashing, %d waiting, %d slots; want %d, %d, 1", gotH, gotW, slots, hashing, waiting)
			}
		}
	}
	waitFor(1, 0)

	patient, impatient := context.Background(), context.Background()
	impatient, giveUp := context.WithCancel(impatient)
	done := make(chan error, 2)
	for _, ctx := range []context.Context{patient, impatient} {
		go func() {
			_, err := h.Hash(ctx, "password1")
			done <- err
		}()
	}
	waitFor(1, 2)
	giveUp()
	if err := <-done; !errors.Is(err, ErrBusy) {
		t.Fatalf("the hash that gave up: %v, want ErrBusy", err)
	}
	waitFor(1, 1)
	<-h.slots // the first hash ends: the patient one takes its slot
	if err := <-done; err != nil {
		t.Fatalf("the patient hash: %v", err)
	}
	waitFor(0, 0)
}

func TestCheckPolicy(t *testing.T) {
	c := Context{
		Username: "wilhelmina", Email: "w.harbottle@example.org", DisplayName: "Mina Quenby-Stroud",
		Service: []string{"Gatehouse", "login.example.org"},
	}
	// strong is a passphrase of exactly scoredLength characters.
	strong := "kettle orchard lantern purple tractor sings loudly over the quiet harbour while seven gulls argue!!!"
	if n := len(strong); n != scoredLength {
		t.Fatalf("strong is %d characters, want %d", n, scoredLength)
	}
	tests := []struct {
		name string
		pw   string
		want error
	}{
		{"short", "short", ErrTooShort},
		{"7 characters in 14 bytes", "ééééééé", ErrTooShort},
		{"too long", strings.Repeat("a", MaxLength+1), ErrTooLong},
		{"the most common", "password", ErrCommon},
		{"common with a capital and a digit", "Password1", ErrCommon},
		{"common in l33t", "P@ssw0rd", ErrCommon},
		{"common digits", "12345678", ErrCommon},
		{"keyboard row", "qwertyuiop", ErrCommon},
		{"common with a symbol", "letmein!", ErrGuessable},
		{"repeat", "aaaaaaaaaaaa", ErrGuessable},
		{"one word", "umbrellas", ErrGuessable},
		{"username", "wilhelmina", ContextError{"your username"}},
		{"username and a year", "Wilhelmina2024", ContextError{"your username"}},
		{"username reversed", "animlehliw", ContextError{"your username"}},
		{"username in l33t", "w1lh3lm1na", ContextError{"your username"}},
		{"email", "w.harbottle@example.org", ContextError{"your email address"}},
		{"email's local part", "w.harbottle1", ContextError{"your email address"}},
		{"a word of the email", "Harbottle99", ContextError{"your email address"}},
		{"name", "Mina Quenby-Stroud", ContextError{"your name"}},
		{"two words of the name", "MinaQuenby", ContextError{"your name"}},
		{"service", "Gatehouse1", ContextError{"the name of this site"}},
		{"issuer's host", "login.example.org", ContextError{"the name of this site"}},
		{"passphrase", "correct horse battery staple", nil},
		{"random", "ZK4D7QJ2M3XV", nil},
		{"passphrase with the username among its words", "wilhelmina walks seven quiet harbours", nil},
		{"longest, weak after what is scored", strong + strings.Repeat("a", MaxLength-scoredLength), nil},
		{"weak in what is scored", strings.Repeat("a", MaxLength-scoredLength) + strong, ErrGuessable},
	}
	for _, tt := range tests {
		if got := CheckPolicy(tt.pw, c); got != tt.want {
			t.Errorf("%s: CheckPolicy(%q) = %v, want %v", tt.name, tt.pw, got, tt.want)
		}
	}
	// The same words are only words without the context.
	if got := CheckPolicy("Wilhelmina2024", Context{}); got != ErrGuessable {
		t.Errorf("CheckPolicy(%q) without context = %v, want %v", "Wilhelmina2024", got, ErrGuessable)
	}
}

// BenchmarkCheckPolicy measures what a check costs at the length zxcvbn
// scores and at the longest password, which costs the same: a passphrase,
// and a contrived one of characters that may stand for letters, zxcvbn's
// worst case.
func BenchmarkCheckPolicy(b *testing.B) {
	c := Context{Username: "wilhelmina", Email: "w.harbottle@example.org", DisplayName: "Mina Quenby-Stroud", Service: []string{"Gatehouse", "login.example.org"}}
	for _, tt := range []struct{ name, unit string }{
		{"passphrase", "correct horse battery staple "},
		{"l33t", "4@8({[<3691!|70$5+%2xq"},
	} {
		for _, n := range []int{scoredLength, MaxLength} {
			pw := strings.Repeat(tt.unit, MaxLength)[:n]
			b.Run(fmt.Sprintf("%s/%d", tt.name, n), func(b *testing.B) {
				for b.Loop() {
					CheckPolicy(pw, c)
				}
			})
		}
	}
}

func TestGenerate(t *testing.T) {
	a, b := Generate(), Generate()
	if a == b || len(a) < 20 || CheckPolicy(a, Context{}) != nil {
		t.Errorf("Generate() = %q, %q; want distinct policy-compliant passwords", a, b)
	}
}

func BenchmarkHashOWASP(b *testing.B) {
	h := NewHasher(OWASP(), 1)
	for b.Loop() {
		if _, err := h.Hash(context.Background(), "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
