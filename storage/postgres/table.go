package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-id/gatehouse/storage"
)

// table stores the records of one kind: id, the record as JSON in data,
// and the columns cols computes from it, written together by every write
// so that no caller can leave a column behind its record.
type table[T any] struct {
	name string
	id   func(T) string
	cols []column[T]
	// unique is set when a column has a UNIQUE index: an update that
	// would take a value another row holds is ErrAlreadyExists.
	unique bool

	insertSQL, updateSQL string
}

// column is one indexed column and how a record's value for it is made.
type column[T any] struct {
	name  string
	value func(T) any
}

func col[T any](name string, value func(T) any) column[T] { return column[T]{name, value} }

func newTable[T any](name string, id func(T) string, unique bool, cols ...column[T]) *table[T] {
	t := &table[T]{name: name, id: id, cols: cols, unique: unique}
	names, params, sets := []string{"id", "data"}, []string{"$1", "$2"}, []string{"data = $2"}
	for i, c := range cols {
		p := fmt.Sprintf("$%d", i+3)
		names, params, sets = append(names, c.name), append(params, p), append(sets, c.name+" = "+p)
	}
	// ON CONFLICT DO NOTHING: an id or a unique column taken is no row
	// inserted, ErrAlreadyExists, without aborting the transaction. A
	// conflicting insert not yet committed is waited for.
	t.insertSQL = fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT DO NOTHING",
		name, strings.Join(names, ", "), strings.Join(params, ", "))
	t.updateSQL = fmt.Sprintf("UPDATE %s SET %s WHERE id = $1", name, strings.Join(sets, ", "))
	return t
}

// text is a string column's value: NULL for "", so an empty value is in
// no index, and valid UTF-8 without NUL, as PostgreSQL's text must be.
func text(s string) any {
	if s == "" {
		return nil
	}
	return storable(s)
}

// storable is s as a text column can hold it: each byte that is not
// UTF-8, and each NUL, becomes U+FFFD.
func storable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r == 0 {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

// nonNil is b for a bytea column that is never NULL: empty for nil.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nanos is t as unix nanoseconds, as bbolt's time keys are: times before
// 1970 (the zero time among them) are 0, so a record that does not say
// when it expires counts as expired.
func nanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, 0)):
		return 0
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// nanosIfSet is nanos for a time that may be unset: NULL when zero.
func nanosIfSet(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return nanos(t)
}

// validID reports whether id can be a stored record's id: insert refuses
// any other, so a look-up by one finds nothing.
func validID(id string) bool { return id != "" && storable(id) == id }

func (t *table[T]) args(v T) ([]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", t.name, err)
	}
	args := []any{t.id(v), data}
	for _, c := range t.cols {
		args = append(args, c.value(v))
	}
	return args, nil
}

func (t *table[T]) decode(data []byte) (T, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("decode %s: %w", t.name, err)
	}
	return v, nil
}

// get reads the record under id; with forUpdate it also locks the row
// until the transaction ends, so that the caller's write is computed from
// the last committed one.
func (t *table[T]) get(ctx context.Context, q querier, id string, forUpdate bool) (T, error) {
	var zero T
	if !validID(id) {
		return zero, storage.ErrNotFound
	}
	sql := "SELECT data FROM " + t.name + " WHERE id = $1"
	if forUpdate {
		// NO KEY: the id never changes, so rows that refer to this one
		// (a user's org unit) may still be written meanwhile.
		sql += " FOR NO KEY UPDATE"
	}
	var data []byte
	err := q.QueryRow(ctx, sql, id).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return zero, storage.ErrNotFound
	}
	if err != nil {
		return zero, err
	}
	return t.decode(data)
}

func (t *table[T]) insert(ctx context.Context, tx pgx.Tx, v T) error {
	if id := t.id(v); !validID(id) {
		return fmt.Errorf("invalid id %q", id)
	}
	args, err := t.args(v)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, t.insertSQL, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return storage.ErrAlreadyExists
	}
	return nil
}

// write stores v over the row with its id. On a table with a unique
// column it runs in a savepoint, so that a value another row holds is
// ErrAlreadyExists and leaves the caller's transaction usable.
func (t *table[T]) write(ctx context.Context, tx pgx.Tx, v T) error {
	args, err := t.args(v)
	if err != nil {
		return err
	}
	if !t.unique {
		_, err = tx.Exec(ctx, t.updateSQL, args...)
		return err
	}
	return pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		_, err := sp.Exec(ctx, t.updateSQL, args...)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return storage.ErrAlreadyExists
		}
		return err
	})
}

// update runs fn on the stored record, its row locked, and stores the
// result; an error from fn is returned before anything is written.
func (t *table[T]) update(ctx context.Context, tx pgx.Tx, id string, fn func(T) (T, error)) (T, error) {
	var zero T
	cur, err := t.get(ctx, tx, id, true)
	if err != nil {
		return zero, err
	}
	v, err := fn(cur)
	if err != nil {
		return zero, err
	}
	if t.id(v) != id {
		return zero, errors.New("update must not change the id")
	}
	if err := t.write(ctx, tx, v); err != nil {
		return zero, err
	}
	return v, nil
}

func (t *table[T]) delete(ctx context.Context, tx pgx.Tx, id string) error {
	if !validID(id) {
		return storage.ErrNotFound
	}
	tag, err := tx.Exec(ctx, "DELETE FROM "+t.name+" WHERE id = $1", id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// where returns the records matching a condition on the table's columns,
// such as "user_id = $1", with its arguments.
func (t *table[T]) where(ctx context.Context, q querier, cond string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, "SELECT data FROM "+t.name+" WHERE "+cond, args...)
	if err != nil {
		return nil, err
	}
	datas, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, err
	}
	list := make([]T, 0, len(datas))
	for _, data := range datas {
		v, err := t.decode(data)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	return list, nil
}

// deleteWhere deletes the records matching a condition.
func (t *table[T]) deleteWhere(ctx context.Context, tx pgx.Tx, cond string, args ...any) error {
	_, err := tx.Exec(ctx, "DELETE FROM "+t.name+" WHERE "+cond, args...)
	return err
}

// The helpers below are the plain storage methods: one table operation in
// one transaction, named op in errors.

func createRecord[T any](ctx context.Context, db *DB, t *table[T], op string, v T) error {
	return db.write(ctx, op, func(tx pgx.Tx) error { return t.insert(ctx, tx, v) })
}

func getRecord[T any](ctx context.Context, db *DB, t *table[T], op, id string) (v T, err error) {
	err = db.read(ctx, op, func(q querier) error {
		v, err = t.get(ctx, q, id, false)
		return err
	})
	return v, err
}

func updateRecord[T any](ctx context.Context, db *DB, t *table[T], op, id string, fn func(T) (T, error)) (v T, err error) {
	err = db.write(ctx, op, func(tx pgx.Tx) error {
		v, err = t.update(ctx, tx, id, fn)
		return err
	})
	return v, err
}

func deleteRecord[T any](ctx context.Context, db *DB, t *table[T], op, id string) error {
	return db.write(ctx, op, func(tx pgx.Tx) error { return t.delete(ctx, tx, id) })
}

func listWhere[T any](ctx context.Context, db *DB, t *table[T], op, cond string, args ...any) (list []T, err error) {
	err = db.read(ctx, op, func(q querier) error {
		list, err = t.where(ctx, q, cond, args...)
		return err
	})
	return list, err
}
