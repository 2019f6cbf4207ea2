package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-id/gatehouse/storage"
)

// copyTable is how one lasting kind kept a record a row is read out of
// the database and counted. (Signing keys, secrets and settings are
// documents.)
type copyTable struct {
	kind  storage.Kind
	table string
	// export calls fn with the table's records, batch at a time.
	export func(ctx context.Context, tx pgx.Tx, batch int, fn func(storage.Records) error) error
}

// copyTables are the kinds kept a record a row, in storage.CopyKinds order.
var copyTables = []copyTable{
	{storage.KindOrgUnits, orgUnits.name, exportOrgUnits},
	{storage.KindUsers, users.name, exporter(users, func(l []storage.User) storage.Records { return storage.Records{Users: l} })},
	{storage.KindMethods, methods.name, exporter(methods, func(l []storage.Method) storage.Records { return storage.Records{Methods: l} })},
	{storage.KindExceptions, exceptions.name, exporter(exceptions, func(l []storage.Exception) storage.Records { return storage.Records{Exceptions: l} })},
	{storage.KindClients, clients.name, exporter(clients, func(l []storage.Client) storage.Records { return storage.Records{Clients: l} })},
	{storage.KindRememberedDevices, devices.name, exporter(devices, func(l []storage.RememberedDevice) storage.Records {
		return storage.Records{RememberedDevices: l}
	})},
	{storage.KindAppPasswords, appPasswords.name, exporter(appPasswords, func(l []storage.AppPassword) storage.Records {
		return storage.Records{AppPasswords: l}
	})},
	{storage.KindRefreshTokens, refreshTokens.name, exporter(refreshTokens, func(l []storage.RefreshToken) storage.Records {
		return storage.Records{RefreshTokens: l}
	})},
	{storage.KindAccessTokens, accessTokens.name, exporter(accessTokens, func(l []storage.AccessToken) storage.Records {
		return storage.Records{AccessTokens: l}
	})},
	{storage.KindNotifications, notifications.name, exporter(notifications, func(l []storage.Notification) storage.Records {
		return storage.Records{Notifications: l}
	})},
	{storage.KindAudit, auditEvents.name, exporter(auditEvents, func(l []storage.AuditEvent) storage.Records { return storage.Records{Audit: l} })},
}

// snapshot runs fn in a read-only transaction at REPEATABLE READ: every
// statement in it sees the database as the first one did, whatever is
// committed meanwhile.
func (db *DB) snapshot(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Export implements storage.Copier, from one snapshot. Each batch is one
// query, a walk of the primary key from where the last one stopped, so
// one batch is held at once however many rows there are.
func (db *DB) Export(ctx context.Context, batch int, fn func(storage.Records) error) error {
	batch = max(batch, 1)
	return db.snapshot(ctx, "export", func(tx pgx.Tx) error {
		for _, t := range copyTables {
			if err := t.export(ctx, tx, batch, fn); err != nil {
				return err
			}
		}
		docs, err := allDocuments(ctx, tx)
		if err != nil {
			return err
		}
		if len(docs.SigningKeys) > 0 {
			if err := fn(storage.Records{SigningKeys: docs.SigningKeys}); err != nil {
				return err
			}
		}
		if len(docs.Secrets) > 0 {
			if err := fn(storage.Records{Secrets: docs.Secrets}); err != nil {
				return err
			}
		}
		if docs.Settings != nil {
			return fn(storage.Records{Settings: docs.Settings})
		}
		return nil
	})
}

// exportOrgUnits gives the units in tree order, which the table's is
// not. Units are few: they are read whole.
func exportOrgUnits(ctx context.Context, tx pgx.Tx, batch int, fn func(storage.Records) error) error {
	list, err := orgUnits.where(ctx, tx, "true")
	if err != nil {
		return err
	}
	for chunk := range slices.Chunk(storage.TreeOrder(list), batch) {
		if err := fn(storage.Records{OrgUnits: chunk}); err != nil {
			return err
		}
	}
	return nil
}

// exporter walks t's primary key, batch rows a query, calling fn with
// each batch as Records (made by wrap).
func exporter[T any](t *table[T], wrap func([]T) storage.Records) func(context.Context, pgx.Tx, int, func(storage.Records) error) error {
	return func(ctx context.Context, tx pgx.Tx, batch int, fn func(storage.Records) error) error {
		// Every id sorts after "", whatever the collation.
		for after := ""; ; {
			list, err := t.where(ctx, tx, "id > $1 ORDER BY id LIMIT $2", after, batch)
			if err != nil {
				return err
			}
			if len(list) == 0 {
				return nil
			}
			if err := fn(wrap(list)); err != nil {
				return err
			}
			if len(list) < batch {
				return nil
			}
			after = t.id(list[len(list)-1])
		}
	}
}

// allDocuments reads the signing key set, every purpose's secrets and the
// settings, leaving out those not stored.
func allDocuments(ctx context.Context, q querier) (storage.Records, error) {
	var r storage.Records
	if err := getDocument(ctx, q, "signing_keys", &r.SigningKeys); err != nil {
		return r, err
	}
	var settings storage.Settings
	var stored bool
	if err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM documents WHERE key = 'settings')").Scan(&stored); err != nil {
		return r, err
	}
	if stored {
		if err := getDocument(ctx, q, "settings", &settings); err != nil {
			return r, err
		}
		r.Settings = &settings
	}
	rows, err := q.Query(ctx, "SELECT key FROM documents WHERE starts_with(key, 'secrets/') ORDER BY key")
	if err != nil {
		return r, err
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return r, err
	}
	for _, key := range keys {
		var list []storage.Secret
		if err := getDocument(ctx, q, key, &list); err != nil {
			return r, err
		}
		if len(list) > 0 {
			if r.Secrets == nil {
				r.Secrets = map[string][]storage.Secret{}
			}
			r.Secrets[strings.TrimPrefix(key, "secrets/")] = list
		}
	}
	return r, nil
}

// Restore implements storage.Copier, in one transaction. Org units go
// through createOrgUnit, one at a time (they are few, and it tells a
// second root from a taken id); every other record is the insert its
// kind's own writes use, the same statement and columns, and they are
// sent together in one round trip rather than one a record.
func (db *DB) Restore(ctx context.Context, r storage.Records) error {
	return db.write(ctx, "restore", func(tx pgx.Tx) error {
		for _, ou := range r.OrgUnits {
			if err := createOrgUnit(ctx, tx, ou); err != nil {
				return fmt.Errorf("org unit %s: %w", ou.ID, err)
			}
		}
		var p pipeline
		for _, u := range r.Users {
			if err := queueInsert(&p, users, "user", u, "org unit "+u.OrgUnitID+" is missing"); err != nil {
				return err
			}
			p.queue("user "+u.ID, false, "", insertTerms, rawTerms(storage.SearchTerms(u)), u.ID)
		}
		for _, queue := range []func() error{
			func() error { return queueInserts(&p, methods, "method", r.Methods) },
			func() error { return queueInserts(&p, exceptions, "exception", r.Exceptions) },
			func() error { return queueInserts(&p, clients, "client", r.Clients) },
			func() error { return queueInserts(&p, devices, "remembered device", r.RememberedDevices) },
			func() error { return queueInserts(&p, appPasswords, "app password", r.AppPasswords) },
			func() error { return queueInserts(&p, refreshTokens, "refresh token", r.RefreshTokens) },
			func() error { return queueInserts(&p, accessTokens, "access token", r.AccessTokens) },
			func() error { return queueInserts(&p, notifications, "notification", r.Notifications) },
			func() error { return queueInserts(&p, auditEvents, "audit event", r.Audit) },
		} {
			if err := queue(); err != nil {
				return err
			}
		}
		if len(r.SigningKeys) > 0 {
			if err := queueDocument(&p, "signing keys", "signing_keys", r.SigningKeys); err != nil {
				return err
			}
		}
		for purpose, list := range r.Secrets {
			if err := queueDocument(&p, purpose+" secrets", "secrets/"+purpose, list); err != nil {
				return err
			}
		}
		if r.Settings != nil {
			if err := queueDocument(&p, "settings", "settings", *r.Settings); err != nil {
				return err
			}
		}
		if err := p.send(ctx, tx); err != nil {
			return err
		}
		return advanceAuditSeq(ctx, tx, r.Audit)
	})
}

// pipeline is statements sent to PostgreSQL together: a batch of a
// thousand records costs one round trip, not a thousand.
type pipeline struct {
	batch pgx.Batch
	// what names each statement's record, for its error; insert marks an
	// insert that must store a row (ON CONFLICT DO NOTHING stores none
	// when the id or a unique column is taken); refers says what a
	// foreign key violated by it means.
	what, refers []string
	insert       []bool
}

func (p *pipeline) queue(what string, insert bool, refers, sql string, args ...any) {
	p.batch.Queue(sql, args...)
	p.what, p.insert, p.refers = append(p.what, what), append(p.insert, insert), append(p.refers, refers)
}

// send runs the queued statements in tx, in order, and returns the first
// one's error, naming its record.
func (p *pipeline) send(ctx context.Context, tx pgx.Tx) error {
	if p.batch.Len() == 0 {
		return nil
	}
	results := tx.SendBatch(ctx, &p.batch)
	defer results.Close()
	for i, what := range p.what {
		tag, err := results.Exec()
		var pgErr *pgconn.PgError
		switch {
		case errors.As(err, &pgErr) && pgErr.Code == "23503": // foreign_key_violation
			return fmt.Errorf("%s: %s: %w", what, cmp.Or(p.refers[i], pgErr.Detail), storage.ErrConflict)
		case err != nil:
			return fmt.Errorf("%s: %w", what, err)
		case p.insert[i] && tag.RowsAffected() == 0:
			return fmt.Errorf("%s: %w", what, storage.ErrAlreadyExists)
		}
	}
	return results.Close()
}

// queueInsert queues t's insert of v, as t.insert runs it; refers says
// what a foreign key it violates means.
func queueInsert[T any](p *pipeline, t *table[T], what string, v T, refers string) error {
	id := t.id(v)
	if !validID(id) {
		return fmt.Errorf("%s: invalid id %q", what, id)
	}
	args, err := t.args(v)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, id, err)
	}
	p.queue(what+" "+id, true, refers, t.insertSQL, args...)
	return nil
}

func queueInserts[T any](p *pipeline, t *table[T], what string, list []T) error {
	for _, v := range list {
		if err := queueInsert(p, t, what, v, ""); err != nil {
			return err
		}
	}
	return nil
}

// queueDocument queues the insert of a document that must not be stored
// yet.
func queueDocument(p *pipeline, what, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	p.queue(what, true, "", "INSERT INTO documents (key, data) VALUES ($1, $2) ON CONFLICT DO NOTHING", key, data)
	return nil
}

// advanceAuditSeq moves audit_seq past the numbers in the ids of events
// restored (see appendAudit), so that an event appended later at the same
// moment gets an id of its own. An id that does not end in 16 hex digits
// holds no number.
func advanceAuditSeq(ctx context.Context, tx pgx.Tx, events []storage.AuditEvent) error {
	var top uint64
	for _, e := range events {
		if len(e.ID) != 32 {
			continue
		}
		if seq, err := strconv.ParseUint(e.ID[16:], 16, 64); err == nil {
			top = max(top, seq)
		}
	}
	if top == 0 || top > math.MaxInt64 {
		return nil
	}
	_, err := tx.Exec(ctx, "SELECT setval('audit_seq', greatest($1, (SELECT last_value FROM audit_seq)))", int64(top))
	return err
}

// Count implements storage.Copier, from one snapshot.
func (db *DB) Count(ctx context.Context) (c storage.Counts, err error) {
	err = db.snapshot(ctx, "count", func(tx pgx.Tx) error {
		c = storage.Counts{}
		for _, t := range copyTables {
			var n int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+t.table).Scan(&n); err != nil {
				return err
			}
			c[t.kind] = n
		}
		docs, err := allDocuments(ctx, tx)
		if err != nil {
			return err
		}
		n := docs.Counts()
		for _, k := range []storage.Kind{storage.KindSigningKeys, storage.KindSecrets, storage.KindSettings} {
			c[k] = n[k]
		}
		return nil
	})
	return c, err
}
