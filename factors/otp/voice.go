package otp

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// CallbackPath is where a voice gateway confirms that # was pressed.
const CallbackPath = "/factors/voice/callback"

// voiceLabel names the voice factor, and the way to use a landline.
const voiceLabel = "Voice call"

// ChallengeUpdater is the storage a voice factor needs: marking a
// challenge approved.
type ChallengeUpdater interface {
	UpdateChallenge(ctx context.Context, id string, update func(storage.Challenge) (storage.Challenge, error)) (storage.Challenge, error)
}

// Voice places a call that the user answers and approves by pressing #
// (AMR "tel"). The gateway confirms the key press by POSTing to a
// callback URL signed for one challenge and valid until it expires; the
// page, which asks after the call, then goes on.
type Voice struct {
	sender
	issuer string
	store  ChallengeUpdater
	logger *slog.Logger
}

var _ factors.Enroller = (*Voice)(nil)

// ErrBadCallback is a callback that is forged, expired, or for no live call.
var ErrBadCallback = errors.New("invalid voice callback")

// NewVoice is the voice-call factor. Callback URLs start with issuer.
func NewVoice(gw Gateway, regions []string, issuer string, store ChallengeUpdater, logger *slog.Logger, cfg Config) *Voice {
	v := &Voice{sender: newSender(storage.MethodVoice, voiceLabel, "tel", cfg, phoneParser(ParsePhone, regions)), issuer: issuer, store: store, logger: logger}
	v.description, v.nameExample = "A call to your phone, mobile or landline: answer and press #.", "Work phone"
	v.deliver = func(ctx context.Context, to string, c *storage.Challenge, enrolling bool) (factors.Prompt, error) {
		say := callScript(cfg.Org, enrolling)
		if err := gw.Call(ctx, to, say, v.callbackURL(*c)); err != nil {
			return factors.Prompt{}, fmt.Errorf("voice call: %w", err)
		}
		return factors.Prompt{Kind: factors.PromptCall, Message: "We're calling " + Mask(to) + ". Answer it and press #."}, nil
	}
	return v
}

// callScript is what a call says: at enrolment that this phone is being
// set up, else that someone is signing in. Whoever did not ask hangs up.
func callScript(org string, enrolling bool) string {
	if enrolling {
		return "This is " + org + ". You are setting up this phone for " + org + " sign-in. To confirm, press the hash key. If you did not ask for this, hang up."
	}
	return "This is " + org + ". Someone is signing in to " + org + " as you. If it is you, press the hash key. If not, hang up."
}

// callbackURL is the signed URL that approves c.
func (v *Voice) callbackURL(c storage.Challenge) string {
	exp := strconv.FormatInt(c.ExpiresAt.Unix(), 10)
	q := url.Values{"challenge": {c.ID}, "exp": {exp}, "sig": {v.sign(c.ID, exp)}}
	return v.issuer + CallbackPath + "?" + q.Encode()
}

// sign MACs a callback with the code HMAC key; no six-digit code can be
// "voice-callback:…", so a callback signature is never a code's hash.
func (v *Voice) sign(challengeID, exp string) string {
	return base64.RawURLEncoding.EncodeToString(v.sealer.CodeHash(challengeID, "voice-callback:"+exp))
}

// Approve records that the call behind a signed callback URL's query was
// answered with #.
func (v *Voice) Approve(ctx context.Context, q url.Values) error {
	id, exp, sig := q.Get("challenge"), q.Get("exp"), q.Get("sig")
	expUnix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !hmac.Equal([]byte(sig), []byte(v.sign(id, exp))) {
		return fmt.Errorf("%w: bad signature", ErrBadCallback)
	}
	if !v.now().Before(time.Unix(expUnix, 0)) {
		return fmt.Errorf("%w: expired", ErrBadCallback)
	}
	_, err = v.store.UpdateChallenge(ctx, id, func(c storage.Challenge) (storage.Challenge, error) {
		if c.Type != storage.MethodVoice || !v.now().Before(c.ExpiresAt) {
			return c, fmt.Errorf("%w: not a live call", ErrBadCallback)
		}
		c.Approved = true
		return c, nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: no such call", ErrBadCallback)
	}
	return err
}

// ServeHTTP is the callback endpoint: POST with the signed query.
func (v *Voice) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	err := v.Approve(r.Context(), r.URL.Query())
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, ErrBadCallback):
		v.logger.WarnContext(r.Context(), "voice callback refused", "err", err)
		http.Error(w, "invalid callback", http.StatusForbidden)
	default:
		v.logger.ErrorContext(r.Context(), "voice callback", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

func (v *Voice) Verify(_ context.Context, _ storage.User, _ storage.Method, c storage.Challenge, _ factors.Response) (factors.Result, error) {
	if err := v.answered(c); err != nil {
		return factors.Result{}, err
	}
	return v.passed(), nil
}

func (v *Voice) FinishEnrol(_ context.Context, u storage.User, c storage.Challenge, _ factors.Response) (storage.Method, error) {
	if err := v.answered(c); err != nil {
		return storage.Method{}, err
	}
	return v.enrolled(u, c)
}

func (v *Voice) answered(c storage.Challenge) error {
	switch {
	case !v.now().Before(c.ExpiresAt):
		return factors.ErrWrongAnswer
	case !c.Approved:
		return factors.ErrNotReady
	}
	return nil
}
