package password

import (
	"context"
	"errors"
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

func TestCheckPolicy(t *testing.T) {
	tests := []struct {
		pw   string
		want error
	}{
		{"short", ErrTooShort},
		{"12345678", nil},
		{"ééééééé", ErrTooShort}, // 7 characters, 14 bytes
		{strings.Repeat("a", MaxLength), nil},
		{strings.Repeat("a", MaxLength+1), ErrTooLong},
	}
	for _, tt := range tests {
		if got := CheckPolicy(tt.pw); !errors.Is(got, tt.want) {
			t.Errorf("CheckPolicy(%q) = %v, want %v", tt.pw, got, tt.want)
		}
	}
}

func TestGenerate(t *testing.T) {
	a, b := Generate(), Generate()
	if a == b || len(a) < 20 || CheckPolicy(a) != nil {
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
