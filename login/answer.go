package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// errOutOfGuesses: the challenge had its last guess; it is deleted, and a
// new one must be started.
var errOutOfGuesses = errors.New("too many wrong answers to this challenge")

// answer is one answer to a challenge: at sign-in (a second factor) or on
// Security info (the first use of a method being added).
type answer struct {
	user storage.User
	c    storage.Challenge
	// key is the throttle key the answer is charged to, per user and
	// method type.
	key string
	// action names the audit events of a refusal: mfa.verify or
	// mfa.method_added.
	action  string
	details map[string]string
	// verify is the factor's check of the answer; it may store what a
	// right answer changes (a TOTP step, a sign count).
	verify func(ctx context.Context, c storage.Challenge) error
}

// check runs an answer through the steps every answer takes, in this
// order, and audits every refusal:
//
//  1. charge the throttle before checking, so parallel guesses cannot all
//     slip in before the first failure lands (a locked key: errThrottled);
//  2. count the guess against the challenge (past its last one:
//     errOutOfGuesses, and the challenge is deleted);
//  3. verify;
//  4. delete the challenge, once: of two requests racing with the right
//     answer, only the one that deletes it counts (factors.ErrReplayed);
//  5. reset the throttle.
//
// The caller records the success, once it has acted on it.
func (h *Handler) check(r *http.Request, a answer) error {
	ctx := r.Context()
	refuse := func(outcome, reason string) {
		h.auditUser(r, a.user, a.action, outcome, with(a.details, "reason", reason))
	}
	charged, err := h.throttle.charge(ctx, a.key, h.cfg.MFAThrottle)
	var locked errThrottled
	if errors.As(err, &locked) {
		refuse(storage.OutcomeDenied, "throttled")
		return err
	}
	if err != nil {
		return fmt.Errorf("charge throttle: %w", err)
	}
	c, err := h.countGuess(ctx, a.c.ID)
	if errors.Is(err, factors.ErrWrongAnswer) || errors.Is(err, storage.ErrNotFound) {
		if err := h.store.DeleteChallenge(ctx, a.c.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("delete spent challenge: %w", err)
		}
		refuse(storage.OutcomeDenied, errOutOfGuesses.Error())
		return errOutOfGuesses
	}
	if err != nil {
		return fmt.Errorf("count guess: %w", err)
	}
	if err = a.verify(ctx, c); err == nil {
		if err = h.store.DeleteChallenge(ctx, c.ID); errors.Is(err, storage.ErrNotFound) {
			err = factors.ErrReplayed
		}
	}
	if err != nil {
		if !userError(err) {
			// Not the user's answer but our fault (a key that will not
			// open, storage): a 500 someone investigates, not a lock-out.
			return err
		}
		refuse(storage.OutcomeFailure, err.Error())
		if charged.LockedUntil.After(h.cfg.Now()) && !errors.Is(err, factors.ErrNotReady) {
			h.auditUser(r, a.user, "mfa.locked", storage.OutcomeDenied, with(a.details, "until", charged.LockedUntil.UTC().Format(time.RFC3339)))
		}
		return err
	}
	if err := h.throttle.reset(ctx, a.key); err != nil {
		return fmt.Errorf("reset throttle: %w", err)
	}
	return nil
}

// userError reports whether err is about the answer given, which the page
// may say was wrong, rather than a failure of Gatehouse's own.
func userError(err error) bool {
	return errors.Is(err, factors.ErrWrongAnswer) || errors.Is(err, factors.ErrBadInput) ||
		errors.Is(err, factors.ErrReplayed) || errors.Is(err, factors.ErrNotReady)
}

// countGuess counts an answer against a challenge before it is checked,
// and refuses one past the challenge's last guess.
func (h *Handler) countGuess(ctx context.Context, id string) (storage.Challenge, error) {
	return h.store.UpdateChallenge(ctx, id, func(c storage.Challenge) (storage.Challenge, error) {
		if c.Guesses >= maxGuesses {
			return c, factors.ErrWrongAnswer
		}
		c.Guesses++
		return c, nil
	})
}
