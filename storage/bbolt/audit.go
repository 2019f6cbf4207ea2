package bbolt

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Audit keys are the event time then a sequence number, both big-endian, so
// the bucket is in time order with ties in append order.
var auditBucket = []byte("audit")

const auditKeyLen = 8 + 8 // timeKey, then the sequence

// The audit log's user index, audit_by_user, holds id\x00key, with an
// empty value, for the event's Actor and for its Subject (one entry when
// they are the same, none for an empty id): one user's events are a range
// of the index in time order, so a query by user reads only theirs, however
// long the log. Audit ids are free text and may hold \x00, so an entry is
// a user's only when it is exactly the length their id makes: another id
// starting "id\x00" makes longer entries in the same range.
var (
	auditByUserBucket = []byte("audit_by_user")
	// auditByUserKey in the meta bucket is how far the index of a log
	// written before it has been built: the key of the last event indexed,
	// or auditIndexed once every event is.
	auditByUserKey = []byte("audit_by_user_index")
	auditIndexed   = []byte("1")
)

// auditIndexChunk is how many events one transaction indexes when an older
// log is indexed at Open. bolt splits pages only at commit, so a single
// transaction over millions of events would be slow; 100,000 a time (sorted)
// index 1,000,000 events in about 4 s.
const auditIndexChunk = 100_000

// AppendAudit implements storage.Audit.
func (db *DB) AppendAudit(ctx context.Context, e storage.AuditEvent) error {
	return db.update(ctx, "append audit", func(tx *bolt.Tx) error { return putAudit(tx, e) })
}

// putAudit stores e under a new key, with its user index entries.
func putAudit(tx *bolt.Tx, e storage.AuditEvent) error {
	if e.Time.IsZero() {
		// The key orders events by time; an event without one is a bug.
		return errors.New("event has no time")
	}
	// The sequence is part of this transaction, so a batch retry rolls it
	// back and draws again.
	seq, err := tx.Bucket(auditBucket).NextSequence()
	if err != nil {
		return err
	}
	return storeAudit(tx, binary.BigEndian.AppendUint64(timeKey(e.Time), seq), e)
}

// storeAudit stores e under key, its ID the key's hex, with its user
// index entries.
func storeAudit(tx *bolt.Tx, key []byte, e storage.AuditEvent) error {
	b := tx.Bucket(auditBucket)
	// Keys grow with time, so pages fill from the left and are never
	// written into again: pack them (bolt's default half-fills them).
	b.FillPercent = 0.9
	e.ID = hex.EncodeToString(key)
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode audit event: %w", err)
	}
	if err := b.Put(key, data); err != nil {
		return err
	}
	ix := tx.Bucket(auditByUserBucket)
	for _, entry := range auditEntries(key, asStored(e.Actor), asStored(e.Subject)) {
		if err := ix.Put(entry, []byte{}); err != nil {
			return err
		}
	}
	return nil
}

// asStored is s as json.Marshal stores it, and so as ListAudit compares it:
// each byte that is not UTF-8 becomes U+FFFD, as ranging over s gives.
func asStored(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

// auditEntries are the user index entries of the event stored under key.
func auditEntries(key []byte, actor, subject string) [][]byte {
	ids := []string{actor}
	if subject != actor {
		ids = append(ids, subject)
	}
	var entries [][]byte
	for _, id := range ids {
		if id != "" {
			entries = append(entries, append([]byte(id+"\x00"), key...))
		}
	}
	return entries
}

// indexOldAudit builds the user index of a log written before it, a chunk
// of events a transaction, noting in meta how far it has got so that an
// interrupted Open carries on where it stopped. It runs in Open, before
// any event can be appended.
func (db *DB) indexOldAudit(chunk int) error {
	var done bool
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		done = bytes.Equal(tx.Bucket(metaBucket).Get(auditByUserKey), auditIndexed)
		return nil
	}); err != nil || done {
		return err
	}
	started, total := time.Now(), 0
	for {
		var n int
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			n = 0
			meta := tx.Bucket(metaBucket)
			from := meta.Get(auditByUserKey)
			if done = bytes.Equal(from, auditIndexed); done {
				return nil
			}
			ix := tx.Bucket(auditByUserBucket)
			c := tx.Bucket(auditBucket).Cursor()
			k, data := c.First()
			if from != nil {
				if k, data = c.Seek(from); bytes.Equal(k, from) {
					k, data = c.Next()
				}
			}
			var last []byte
			var entries [][]byte
			for ; k != nil && n < chunk; k, data = c.Next() {
				var e struct{ Actor, Subject string }
				if err := json.Unmarshal(data, &e); err != nil {
					return fmt.Errorf("decode audit event %x: %w", k, err)
				}
				entries = append(entries, auditEntries(k, e.Actor, e.Subject)...)
				last, n = k, n+1
			}
			// In key order each leaf is visited once, not once an entry.
			slices.SortFunc(entries, bytes.Compare)
			for _, entry := range entries {
				if err := ix.Put(entry, []byte{}); err != nil {
					return err
				}
			}
			if done = k == nil; done {
				return meta.Put(auditByUserKey, auditIndexed)
			}
			// last is bolt's memory: a copy stays put whatever the
			// transaction writes.
			return meta.Put(auditByUserKey, bytes.Clone(last))
		})
		if err != nil {
			return fmt.Errorf("index audit log by user: %w", err)
		}
		if total == 0 && n > 0 && !done {
			db.log.Info("indexing the audit log by user, once; this may take a minute", "path", db.bolt.Path())
		}
		total += n
		if done {
			if total > 0 {
				db.log.Info("indexed the audit log by user", "events", total, "took", time.Since(started).Round(time.Millisecond))
			}
			return nil
		}
	}
}

// ListAudit implements storage.Audit. It walks back from the newest event
// the query allows (Until, Before) to Since, so its cost follows the time
// range and Limit asked for, not the size of the log; a query by user or
// subject walks only that user's events, through the user index. Each
// event is checked against the raw JSON before it is decoded, so walking
// past events that do not match is cheap.
func (db *DB) ListAudit(ctx context.Context, q storage.AuditQuery) (list []storage.AuditEvent, err error) {
	m := newAuditMatcher(q)
	err = db.view(ctx, "list audit", func(tx *bolt.Tx) error {
		list = nil
		w := newAuditWalk(tx, q)
		n := 0
		for k, data := w.first(); k != nil; k, data = w.prev() {
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if data == nil {
				// Events are never deleted: an entry without one is damage.
				return fmt.Errorf("user index names missing audit event %x", k)
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

// auditWalk steps back through the events an AuditQuery's bounds allow,
// newest first: through the log itself, or through one user's range of the
// user index, loading each event it names.
type auditWalk struct {
	c *bolt.Cursor
	// events is the log, when c walks the user index; nil when c walks the
	// log itself.
	events *bolt.Bucket
	prefix []byte // the user's "id\x00"; empty for the log itself
	end    []byte // where to start: just before this key (nil: the newest)
	since  []byte
	// before is a Before that is not an ID this backend made, compared as
	// a string one event at a time until the walk is past it.
	before string
}

func newAuditWalk(tx *bolt.Tx, q storage.AuditQuery) *auditWalk {
	w := &auditWalk{since: timeKey(q.Since)}
	if user := cmp.Or(q.Subject, q.User); user != "" {
		// Subject is the narrower filter when both are set; either
		// user's range holds every match.
		w.c, w.events, w.prefix = tx.Bucket(auditByUserBucket).Cursor(), tx.Bucket(auditBucket), []byte(user+"\x00")
	} else {
		w.c = tx.Bucket(auditBucket).Cursor()
	}
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
	if q.Before != "" && !canonical {
		w.before = q.Before
	}
	switch {
	case end != nil:
		w.end = append(bytes.Clone(w.prefix), end...)
	case len(w.prefix) > 0:
		// Just past the user's range: "id\x01".
		w.end = append(bytes.Clone(w.prefix[:len(w.prefix)-1]), 1)
	}
	return w
}

// first returns the newest event the bounds allow: its key in the log and
// its stored JSON. A nil key ends the walk.
func (w *auditWalk) first() (key, data []byte) {
	var k, v []byte
	if w.end == nil {
		k, v = w.c.Last()
	} else if k, _ = w.c.Seek(w.end); k != nil {
		k, v = w.c.Prev()
	} else {
		k, v = w.c.Last()
	}
	return w.settle(k, v)
}

// prev returns the next older event.
func (w *auditWalk) prev() (key, data []byte) {
	k, v := w.c.Prev()
	return w.settle(k, v)
}

// settle steps back from the cursor's entry k to the first that is one of
// the walk's events, or returns nil past the last.
func (w *auditWalk) settle(k, v []byte) (key, data []byte) {
	for ; k != nil; k, v = w.c.Prev() {
		if !bytes.HasPrefix(k, w.prefix) {
			return nil, nil
		}
		if len(k) != len(w.prefix)+auditKeyLen {
			continue // another user's entry
		}
		key = k[len(w.prefix):]
		if bytes.Compare(key[:8], w.since) < 0 {
			return nil, nil
		}
		if w.before != "" {
			if hex.EncodeToString(key) >= w.before {
				continue
			}
			w.before = "" // keys only fall from here
		}
		if w.events != nil {
			v = w.events.Get(key)
		}
		return key, v
	}
	return nil, nil
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
	// quote, which JSON is full of, and the search would be slower.) The
	// exception is U+FFFD, written as itself but also, escaped, for each
	// byte that is not UTF-8: a value holding either gets no needle.
	needle := func(v string) bool { return v != "" && !strings.ContainsRune(v, utf8.RuneError) }
	for _, v := range []string{q.Subject, q.User, q.Action, q.Outcome} {
		if needle(v) {
			b, _ := json.Marshal(v)
			m.needles = append(m.needles, b)
		}
	}
	if p := q.ActionPrefix; needle(p) {
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
