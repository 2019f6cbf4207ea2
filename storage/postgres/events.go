package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

var (
	attempts = newTable("attempts", func(a storage.Attempts) string { return a.Key }, false,
		col("expires_ns", func(a storage.Attempts) any { return nanos(a.ExpiresAt) }))

	notifications = newTable("notifications", func(n storage.Notification) string { return n.ID }, false,
		col("user_id", func(n storage.Notification) any { return text(n.UserID) }),
		// due_ns holds the pending ones by NextAttemptAt, for ClaimNotifications.
		col("due_ns", func(n storage.Notification) any {
			if n.State != storage.NotificationPending {
				return nil
			}
			return nanos(n.NextAttemptAt)
		}),
		col("expires_ns", func(n storage.Notification) any { return nanos(n.ExpiresAt) }))
)

// GetAttempts implements storage.Throttle.
func (db *DB) GetAttempts(ctx context.Context, key string) (storage.Attempts, error) {
	return getRecord(ctx, db, attempts, "get attempts", key)
}

// UpdateAttempts implements storage.Throttle.
func (db *DB) UpdateAttempts(ctx context.Context, key string, update func(storage.Attempts) (storage.Attempts, error)) (a storage.Attempts, err error) {
	err = db.write(ctx, "update attempts", func(tx pgx.Tx) error {
		a, err = updateAttempts(ctx, tx, key, update)
		return err
	})
	if err != nil {
		return storage.Attempts{}, err
	}
	return a, nil
}

// updateAttempts is UpdateAttempts in tx: a record left empty is removed.
// It runs under the advisory lock "attempts/<key>", taken before the
// record is read, so charges to one key (whether or not it has a record
// yet) run one at a time and none is lost.
func updateAttempts(ctx context.Context, tx pgx.Tx, key string, update func(storage.Attempts) (storage.Attempts, error)) (storage.Attempts, error) {
	if err := lock(ctx, tx, "attempts/"+key); err != nil {
		return storage.Attempts{}, err
	}
	old, err := attempts.get(ctx, tx, key, false)
	stored := err == nil
	if errors.Is(err, storage.ErrNotFound) {
		old, err = storage.Attempts{Key: key}, nil
	}
	if err != nil {
		return old, err
	}
	a, err := update(old)
	if err != nil {
		return a, err
	}
	switch {
	case a.Key != key:
		return a, errors.New("update must not change the key")
	case a.Empty() && stored:
		return a, attempts.delete(ctx, tx, key)
	case a.Empty():
		return a, nil
	case stored:
		return a, attempts.write(ctx, tx, a)
	default:
		return a, attempts.insert(ctx, tx, a)
	}
}

// AppendAudit implements storage.Audit.
func (db *DB) AppendAudit(ctx context.Context, e storage.AuditEvent) error {
	return db.write(ctx, "append audit", func(tx pgx.Tx) error { return appendAudit(ctx, tx, e) })
}

// appendAudit stores e under an id made of its time and the next number
// of audit_seq, as 16 hex digits each: ids sort as bbolt's do, by time,
// then in the order the numbers were drawn. A transaction that rolls back
// leaves a gap in the numbers, which is harmless.
func appendAudit(ctx context.Context, tx pgx.Tx, e storage.AuditEvent) error {
	if e.Time.IsZero() {
		// The id orders events by time; an event without one is a bug.
		return errors.New("event has no time")
	}
	var seq int64
	if err := tx.QueryRow(ctx, "SELECT nextval('audit_seq')").Scan(&seq); err != nil {
		return err
	}
	e.ID = fmt.Sprintf("%016x%016x", uint64(nanos(e.Time)), uint64(seq))
	return auditEvents.insert(ctx, tx, e)
}

var auditEvents = newTable("audit", func(e storage.AuditEvent) string { return e.ID }, false,
	col("actor", func(e storage.AuditEvent) any { return text(e.Actor) }),
	col("subject", func(e storage.AuditEvent) any { return text(e.Subject) }),
	col("org_unit_id", func(e storage.AuditEvent) any { return text(e.OrgUnitID) }),
	col("action", func(e storage.AuditEvent) any { return storable(e.Action) }),
	col("outcome", func(e storage.AuditEvent) any { return storable(e.Outcome) }))

// ListAudit implements storage.Audit, newest first. Ids begin with the
// event's time, so Since and Until are bounds on the id, like Before, and
// each query is one backward walk of an index on id: the primary key, or,
// for a user's or a subject's events, (actor, id) and (subject, id), so it
// walks only theirs.
func (db *DB) ListAudit(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error) {
	var conds []string
	var values []any
	arg := func(v any) string { values = append(values, v); return fmt.Sprintf("$%d", len(values)) }
	if q.Subject != "" {
		conds = append(conds, "subject = "+arg(storable(q.Subject)))
	}
	if len(q.OrgUnitIDs) > 0 {
		ids := make([]string, len(q.OrgUnitIDs))
		for i, id := range q.OrgUnitIDs {
			ids[i] = storable(id)
		}
		conds = append(conds, "org_unit_id = ANY("+arg(ids)+")")
	}
	if q.Action != "" {
		conds = append(conds, "action = "+arg(storable(q.Action)))
	}
	if q.ActionPrefix != "" {
		conds = append(conds, "starts_with(action, "+arg(storable(q.ActionPrefix))+")")
	}
	if q.Outcome != "" {
		conds = append(conds, "outcome = "+arg(storable(q.Outcome)))
	}
	if !q.Since.IsZero() {
		conds = append(conds, "id >= "+arg(fmt.Sprintf("%016x", nanos(q.Since))))
	}
	if !q.Until.IsZero() {
		conds = append(conds, "id < "+arg(fmt.Sprintf("%016x", nanos(q.Until))))
	}
	if q.Before != "" {
		conds = append(conds, "id < "+arg(storable(q.Before)))
	}
	order := " ORDER BY id DESC"
	if q.Limit > 0 {
		order += " LIMIT " + arg(q.Limit)
	}
	cond := strings.Join(append(conds, "true"), " AND ")
	if q.User != "" {
		// The user's events as actor and as subject, each an index walk,
		// merged; one they did to themselves is in both, and once in IN.
		user := arg(storable(q.User))
		cond = fmt.Sprintf("id IN ((SELECT id FROM audit WHERE actor = %s AND %s%s) UNION ALL (SELECT id FROM audit WHERE subject = %s AND %s%s))",
			user, cond, order, user, cond, order)
	}
	return listWhere(ctx, db, auditEvents, "list audit", cond+order, values...)
}

// ClaimNotifications implements storage.Notifications. It locks the due
// rows it takes with FOR UPDATE SKIP LOCKED: a row another sender is
// claiming is passed over rather than waited for, and one claimed and
// committed meanwhile is read again and dropped, no longer due. So each
// notification goes to one sender until its lease runs out.
func (db *DB) ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) (claimed []storage.Notification, err error) {
	err = db.write(ctx, "claim notifications", func(tx pgx.Tx) error {
		due, err := notifications.where(ctx, tx,
			`due_ns <= $1 ORDER BY due_ns, id LIMIT $2 FOR UPDATE SKIP LOCKED`, nanos(now), limit)
		if err != nil {
			return err
		}
		claimed = nil
		for _, n := range due {
			n.Attempts++
			n.NextAttemptAt = now.Add(lease)
			if err := notifications.write(ctx, tx, n); err != nil {
				return err
			}
			claimed = append(claimed, n)
		}
		return nil
	})
	return claimed, err
}

// GetNotification implements storage.Notifications.
func (db *DB) GetNotification(ctx context.Context, id string) (storage.Notification, error) {
	return getRecord(ctx, db, notifications, "get notification", id)
}

// UpdateNotification implements storage.Notifications.
func (db *DB) UpdateNotification(ctx context.Context, id string, update func(storage.Notification) (storage.Notification, error)) (storage.Notification, error) {
	return updateRecord(ctx, db, notifications, "update notification", id, update)
}

// ListUserNotifications implements storage.Notifications. A user's
// notifications are few (they expire), so they are sorted here.
func (db *DB) ListUserNotifications(ctx context.Context, userID string, limit int) ([]storage.Notification, error) {
	list, err := listWhere(ctx, db, notifications, "list user notifications", "user_id = $1", text(userID))
	slices.SortFunc(list, func(a, b storage.Notification) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
	})
	if limit > 0 && len(list) > limit {
		list = list[:limit]
	}
	return list, err
}
