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
	// verify is the factor's check of the answer. It writes nothing: what
	// a right answer changes is passed's to write.
	verify func(ctx context.Context, c storage.Challenge) error
	// passed, if set, makes the writes of a right answer (the method's
	// use, the sign-in moved on) in the transaction that ends the
	// challenge; an error from it fails the answer.
	passed func(tx storage.Tx) error
}

// check runs an answer through the steps every answer takes, in this
// order, and audits every refusal:
//
//  1. charge the throttle before checking, so parallel guesses cannot all
//     slip in before the first failure lands (a locked key: errThrottled),
//     and, in the same transaction, count the guess against the challenge
//     (past its last one: errOutOfGuesses, and the challenge is deleted,
//     the answer charged all the same);
//  2. verify;
//  3. in one transaction: delete the challenge, once (of two requests
//     racing with the right answer, only the one that deletes it counts:
//     factors.ErrReplayed), reset the throttle, and make passed's writes.
func (h *Handler) check(r *http.Request, a answer) error {
	ctx := r.Context()
	refuse := func(outcome, reason string) {
		h.auditUser(r, a.user, a.action, outcome, with(a.details, "reason", reason))
	}
	var charged storage.Attempts
	var c storage.Challenge
	var retired bool
	err := h.store.Atomically(ctx, func(tx storage.Tx) (err error) {
		if charged, err = tx.UpdateAttempts(a.key, charging(h.cfg.MFAThrottle, h.cfg.Now())); err != nil {
			return err
		}
		c, err = tx.UpdateChallenge(a.c.ID, func(c storage.Challenge) (storage.Challenge, error) {
			if c.Guesses >= maxGuesses {
				return c, errOutOfGuesses
			}
			c.Guesses++
			return c, nil
		})
		// An answer past the last guess (or to a challenge gone meanwhile)
		// is charged all the same, and retires the challenge.
		if retired = errors.Is(err, errOutOfGuesses) || errors.Is(err, storage.ErrNotFound); retired {
			if err := tx.DeleteChallenge(a.c.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			return nil
		}
		return err
	})
	var locked errThrottled
	switch {
	case errors.As(err, &locked):
		refuse(storage.OutcomeDenied, "throttled")
		return err
	case err != nil:
		return fmt.Errorf("charge answer: %w", err)
	case retired:
		refuse(storage.OutcomeDenied, errOutOfGuesses.Error())
		return errOutOfGuesses
	}
	if err = a.verify(ctx, c); err == nil {
		err = h.store.Atomically(ctx, func(tx storage.Tx) error {
			if err := tx.DeleteChallenge(c.ID); errors.Is(err, storage.ErrNotFound) {
				return factors.ErrReplayed
			} else if err != nil {
				return err
			}
			if _, err := tx.UpdateAttempts(a.key, cleared); err != nil {
				return err
			}
			if a.passed != nil {
				return a.passed(tx)
			}
			return nil
		})
	}
	if err != nil {
		if !userError(err) {
			// Not the user's answer but our fault (a key that will not
			// open, storage), or another tab's step: a 500 someone
			// investigates, or the next page, not a lock-out.
			return err
		}
		refuse(storage.OutcomeFailure, err.Error())
		if charged.LockedUntil.After(h.cfg.Now()) && !errors.Is(err, factors.ErrNotReady) {
			h.auditUser(r, a.user, "mfa.locked", storage.OutcomeDenied, with(a.details, "until", charged.LockedUntil.UTC().Format(time.RFC3339)))
		}
		return err
	}
	return nil
}

// userError reports whether err is about the answer given, which the page
// may say was wrong, rather than a failure of Gatehouse's own.
func userError(err error) bool {
	return errors.Is(err, factors.ErrWrongAnswer) || errors.Is(err, factors.ErrBadInput) ||
		errors.Is(err, factors.ErrReplayed) || errors.Is(err, factors.ErrNotReady)
}
