package bbolt

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse-id/gatehouse/storage"
)

var (
	notificationsByUser = multi("notifications_by_user", func(n storage.Notification) string { return n.UserID })
	// notificationsDue holds the pending notifications by NextAttemptAt,
	// so the due ones are a prefix of the bucket.
	notificationsDue = multi("notifications_due", func(n storage.Notification) string {
		if n.State != storage.NotificationPending {
			return ""
		}
		return string(timeKey(n.NextAttemptAt))
	})
	notifications = newTable("notifications", func(n storage.Notification) string { return n.ID },
		notificationsByUser, notificationsDue,
		expiry("notifications_by_expiry", func(n storage.Notification) time.Time { return n.ExpiresAt }))
)

// ClaimNotifications implements storage.Notifications. Senders poll, so
// a look with nothing due costs a read, not a commit.
func (db *DB) ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) (claimed []storage.Notification, err error) {
	var some bool
	if err := db.view(ctx, "claim notifications", func(tx *bolt.Tx) error {
		some = len(dueNotifications(tx, now, 1)) > 0
		return nil
	}); err != nil || !some {
		return nil, err
	}
	err = db.update(ctx, "claim notifications", func(tx *bolt.Tx) error {
		claimed = nil
		for _, id := range dueNotifications(tx, now, limit) {
			n, err := notifications.update(tx, id, func(n storage.Notification) (storage.Notification, error) {
				n.Attempts++
				n.NextAttemptAt = now.Add(lease)
				return n, nil
			})
			if err != nil {
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
func (db *DB) ListUserNotifications(ctx context.Context, userID string, limit int) (list []storage.Notification, err error) {
	err = db.view(ctx, "list user notifications", func(tx *bolt.Tx) (err error) {
		list, err = notifications.under(tx, notificationsByUser, userID)
		return err
	})
	slices.SortFunc(list, func(a, b storage.Notification) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
	})
	if limit > 0 && len(list) > limit {
		list = list[:limit]
	}
	return list, err
}

// dueNotifications is the ids of up to limit notifications due at now,
// the longest due first. They are collected before any is claimed: a
// claim moves its index key under a cursor.
func dueNotifications(tx *bolt.Tx, now time.Time, limit int) []string {
	var ids []string
	c := tx.Bucket(notificationsDue.bucket).Cursor()
	for k, _ := c.First(); k != nil && len(ids) < limit && bytes.Compare(k[:8], timeKey(now)) <= 0; k, _ = c.Next() {
		ids = append(ids, string(k[9:]))
	}
	return ids
}
