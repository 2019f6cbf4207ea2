package otp

import (
	"bytes"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzWebhookSignature checks VerifyWebhookSignature, as a gateway runs
// it, on a fuzzed timestamp, body and signature at a fuzzed clock and
// maxAge. The signature is the fuzzed one, the one a genuine request
// carried, one made with another secret, or the right one for what was
// sent. Property: a request verifies exactly when its signature is,
// byte for byte, WebhookSignature(secret, timestamp, body) and the
// timestamp is a whole number of seconds within maxAge of now: a genuine
// signature never verifies another timestamp or body, nor one made with
// another secret, and a replay outside maxAge never verifies.
func FuzzWebhookSignature(f *testing.F) {
	secret, wrong := []byte("s3cret"), []byte("s3cret ")
	const ts0 = 1_700_000_000
	body0 := []byte(`{"type":"sms","to":"+447700900123","text":"Your Gatehouse code is 123456."}`)
	genuine := WebhookSignature(secret, strconv.Itoa(ts0), body0)

	const (
		fuzzed = iota
		replayed
		otherSecret
		right
		modes
	)
	for _, s := range []struct {
		ts   string
		body []byte
		sig  string
	}{
		{strconv.Itoa(ts0), body0, genuine},
		{strconv.Itoa(ts0), body0, strings.ToUpper(genuine)},
		{strconv.Itoa(ts0), body0, strings.TrimPrefix(genuine, "sha256=")},
		{strconv.Itoa(ts0), body0, genuine + "\n"},
		{strconv.Itoa(ts0), append(bytes.Clone(body0), ' '), genuine},
		{strconv.Itoa(ts0 + 1), body0, genuine},
		{"+" + strconv.Itoa(ts0), body0, genuine},
		{"0" + strconv.Itoa(ts0), body0, genuine},
		{strconv.Itoa(ts0) + ".", body0[1:], genuine},
		{"1700000000.5", body0, genuine},
		{"", nil, "sha256="},
		{"-9223372036854775808", nil, ""},
		{"9223372036854775807", nil, ""},
		{" 1700000000", body0, genuine},
	} {
		for m := range uint8(modes) {
			for _, skew := range []int32{0, 60, -60, 61, 300} {
				f.Add(s.ts, s.body, s.sig, m, skew, int32(60))
			}
		}
	}
	f.Add(strconv.Itoa(ts0), body0, genuine, uint8(fuzzed), int32(0), int32(0))
	f.Add(strconv.Itoa(ts0), body0, genuine, uint8(fuzzed), int32(0), int32(-1))
	f.Fuzz(func(t *testing.T, ts string, body []byte, sig string, mode uint8, skew, maxAgeSeconds int32) {
		switch mode % modes {
		case replayed:
			sig = genuine
		case otherSecret:
			sig = WebhookSignature(wrong, ts, body)
		case right:
			sig = WebhookSignature(secret, ts, body)
		}
		now := time.Unix(ts0, 0).Add(time.Duration(skew) * time.Second)
		maxAge := time.Duration(maxAgeSeconds) * time.Second
		err := VerifyWebhookSignature(secret, ts, sig, body, now, maxAge)

		inTime := false
		if n, perr := strconv.ParseInt(ts, 10, 64); perr == nil {
			d := new(big.Int).Sub(big.NewInt(now.Unix()), big.NewInt(n))
			inTime = d.Abs(d).Cmp(big.NewInt(int64(maxAgeSeconds))) <= 0
		}
		want := inTime && sig == WebhookSignature(secret, ts, body)
		if (err == nil) != want {
			t.Fatalf("timestamp %q, body %q, signature %q at %d, maxAge %v: err %v, want verified %v", ts, body, sig, now.Unix(), maxAge, err, want)
		}
		if err == nil && sig == genuine && (ts != strconv.Itoa(ts0) || !bytes.Equal(body, body0)) {
			t.Fatalf("the genuine signature verified timestamp %q, body %q", ts, body)
		}
		if err == nil && sig == WebhookSignature(wrong, ts, body) {
			t.Fatalf("a signature made with another secret verified")
		}
	})
}
