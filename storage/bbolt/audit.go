package bbolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

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
	return db.batch(ctx, "append audit", func(tx *bolt.Tx) error { return putAudit(tx, e) })
}

// putAudit stores e under a new key.
func putAudit(tx *bolt.Tx, e storage.AuditEvent) error {
	b := tx.Bucket(auditBucket)
	// The sequence is part of this transaction, so a batch retry rolls it
	// back and draws again.
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	key := binary.BigEndian.AppendUint64(timeKey(e.Time), seq)
	e.ID = hex.EncodeToString(key)
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode audit event: %w", err)
	}
	return b.Put(key, data)
}

// ListAudit implements storage.Audit. It walks back from the newest event
// the query allows (Until, Before) to Since, so its cost follows the time
// range and Limit asked for, not the size of the log. Each event is checked
// against the raw JSON before it is decoded, so walking past events that
// do not match is cheap.
func (db *DB) ListAudit(ctx context.Context, q storage.AuditQuery) (list []storage.AuditEvent, err error) {
	m := newAuditMatcher(q)
	err = db.view(ctx, "list audit", func(tx *bolt.Tx) error {
		list = nil
		c := tx.Bucket(auditBucket).Cursor()
		since := timeKey(q.Since)
		n := 0
		for k, data := auditStart(c, q); k != nil && bytes.Compare(k[:8], since) >= 0; k, data = c.Prev() {
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if !m.mayMatch(data) {
				continue
			}
			var e storage.AuditEvent
			if err := json.Unmarshal(data, &e); err != nil {
				return fmt.Errorf("decode audit event: %w", err)
			}
			if !m.match(e) {
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

// auditStart places c on the newest event before both q.Until and q.Before.
func auditStart(c *bolt.Cursor, q storage.AuditQuery) (k, data []byte) {
	var end []byte // keys from here on are too new
	if !q.Until.IsZero() {
		end = timeKey(q.Until)
	}
	// An ID is the hex of its key, so a lower-case hex ID compares as its
	// key does. Anything else was not made here; it is still compared as
	// a string, one key at a time.
	before, err := hex.DecodeString(q.Before)
	canonical := err == nil && hex.EncodeToString(before) == q.Before
	if q.Before != "" && canonical && (end == nil || bytes.Compare(before, end) < 0) {
		end = before
	}
	if end == nil {
		k, data = c.Last()
	} else if k, _ = c.Seek(end); k != nil {
		k, data = c.Prev()
	} else {
		k, data = c.Last()
	}
	if q.Before != "" && !canonical {
		for k != nil && hex.EncodeToString(k) >= q.Before {
			k, data = c.Prev()
		}
	}
	return k, data
}

// auditMatcher applies an AuditQuery's field filters to one event.
type auditMatcher struct {
	q     storage.AuditQuery
	units map[string]bool
	// needles are encoded strings ("login") a matching event's stored JSON
	// holds: a cheap test that skips decoding most events that do not
	// match. A false "may match" is caught by match after decoding.
	needles [][]byte
}

func newAuditMatcher(q storage.AuditQuery) auditMatcher {
	m := auditMatcher{q: q}
	if len(q.OrgUnitIDs) > 0 {
		m.units = make(map[string]bool, len(q.OrgUnitIDs))
		for _, id := range q.OrgUnitIDs {
			m.units[id] = true
		}
	}
	// AppendAudit encodes with json.Marshal, which writes a given string
	// the same way every time, so a field equal to v holds v's encoding.
	// (The field's name is left out: most needles would then start with a
	// quote, which JSON is full of, and the search would be slower.)
	for _, v := range []string{q.Subject, q.User, q.Action, q.Outcome} {
		if v != "" {
			b, _ := json.Marshal(v)
			m.needles = append(m.needles, b)
		}
	}
	if p := q.ActionPrefix; p != "" && utf8.ValidString(p) {
		b, _ := json.Marshal(p)
		m.needles = append(m.needles, b[:len(b)-1]) // without the closing quote
	}
	return m
}

func (m auditMatcher) mayMatch(data []byte) bool {
	for _, n := range m.needles {
		if !bytes.Contains(data, n) {
			return false
		}
	}
	if m.units != nil {
		if ou, ok := rawOrgUnitID(data); ok && !m.units[ou] {
			return false
		}
	}
	return true
}

var orgUnitField = []byte(`"OrgUnitID":"`)

// rawOrgUnitID reads an encoded event's OrgUnitID without decoding it all.
// json.Marshal writes fields in struct order and escapes every quote
// inside a string, so the first "OrgUnitID":" is the field itself (one in
// Details would come later). ok is false when unsure (an escaped value).
func rawOrgUnitID(data []byte) (string, bool) {
	i := bytes.Index(data, orgUnitField)
	if i < 0 {
		return "", false
	}
	v := data[i+len(orgUnitField):]
	end := bytes.IndexByte(v, '"')
	if end < 0 || bytes.IndexByte(v[:end], '\\') >= 0 {
		return "", false
	}
	return string(v[:end]), true
}

func (m auditMatcher) match(e storage.AuditEvent) bool {
	q := m.q
	switch {
	case q.Subject != "" && e.Subject != q.Subject,
		q.User != "" && e.Actor != q.User && e.Subject != q.User,
		m.units != nil && !m.units[e.OrgUnitID],
		q.Action != "" && e.Action != q.Action,
		!strings.HasPrefix(e.Action, q.ActionPrefix),
		q.Outcome != "" && e.Outcome != q.Outcome:
		return false
	}
	return true
}
