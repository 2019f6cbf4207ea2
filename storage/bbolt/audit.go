package bbolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Audit keys are the event time then a sequence number, both big-endian, so
// the bucket is in time order with ties in append order.
var auditBucket = []byte("audit")

// AppendAudit implements storage.Audit.
func (db *DB) AppendAudit(ctx context.Context, e storage.AuditEvent) error {
	if e.Time.IsZero() {
		// The key orders events by time; an event without one is a bug.
		return errors.New("append audit: event has no time")
	}
	return db.batch(ctx, "append audit", func(tx *bolt.Tx) error {
		b := tx.Bucket(auditBucket)
		// The sequence is part of this transaction, so a batch retry
		// rolls it back and draws again.
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		key := binary.BigEndian.AppendUint64(timeKey(e.Time), seq)
		e := e
		e.ID = hex.EncodeToString(key)
		data, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode audit event: %w", err)
		}
		return b.Put(key, data)
	})
}

// ListAudit implements storage.Audit. It walks back from Until to Since, so
// its cost follows the time range asked for, not the size of the log.
// Since is inclusive and Until exclusive.
func (db *DB) ListAudit(ctx context.Context, q storage.AuditQuery) (list []storage.AuditEvent, err error) {
	err = db.view(ctx, "list audit", func(tx *bolt.Tx) error {
		list = nil
		c := tx.Bucket(auditBucket).Cursor()
		k, data := c.Last()
		if !q.Until.IsZero() {
			if k, _ = c.Seek(timeKey(q.Until)); k != nil {
				k, data = c.Prev()
			} else {
				k, data = c.Last()
			}
		}
		since := timeKey(q.Since)
		for ; k != nil && bytes.Compare(k[:8], since) >= 0; k, data = c.Prev() {
			var e storage.AuditEvent
			if err := json.Unmarshal(data, &e); err != nil {
				return fmt.Errorf("decode audit event: %w", err)
			}
			if (q.Subject != "" && e.Subject != q.Subject) || (q.Action != "" && e.Action != q.Action) {
				continue
			}
			list = append(list, e)
			if len(list) == q.Limit {
				break
			}
		}
		return nil
	})
	return list, err
}
