package postgres

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

const (
	defaultSearchLimit = 50
	// maxWalked bounds the index entries one SearchUsers call walks,
	// whatever the filters: a filter few users pass yields a short page
	// with a Next rather than a walk over every user.
	maxWalked = 1000
)

// indexTerms replaces the user's entries in user_terms when their terms
// changed (old is nil for a new user). Deleting a user deletes its
// entries by ON DELETE CASCADE.
func indexTerms(ctx context.Context, tx pgx.Tx, old *storage.User, u storage.User) error {
	terms := storage.SearchTerms(u)
	if old != nil && slices.Equal(storage.SearchTerms(*old), terms) {
		return nil
	}
	if old != nil {
		if _, err := tx.Exec(ctx, "DELETE FROM user_terms WHERE user_id = $1", u.ID); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, insertTerms, rawTerms(terms), u.ID)
	return err
}

// insertTerms stores a user's terms ($1, from rawTerms) under their id ($2).
const insertTerms = "INSERT INTO user_terms (term, user_id) SELECT unnest($1::bytea[]), $2"

func rawTerms(terms []string) [][]byte {
	raw := make([][]byte, len(terms))
	for i, t := range terms {
		raw[i] = []byte(t)
	}
	return raw
}

// SearchUsers implements storage.Users. With Text it walks user_terms
// from the text, in (term, user id) order, keeping a user at the first of
// their terms that starts with it, so they appear once; otherwise users in
// username order, in the units when they are given (users_by_org_unit).
// A call walks at most maxWalked entries; Next is the position of the
// last one it looked at, so paging stays exact when users come and go.
func (db *DB) SearchUsers(ctx context.Context, q storage.UserQuery) (storage.UserPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultSearchLimit
	}
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	var filters []string
	switch q.MFA {
	case "":
	case "on", "off":
		filters = append(filters, "(u.data->>'MFAEnabled')::boolean = "+arg(q.MFA == "on"))
	default:
		return storage.UserPage{}, fmt.Errorf("search users: MFA filter %q is neither on nor off", q.MFA)
	}
	if q.Method != "" {
		filters = append(filters, "EXISTS (SELECT 1 FROM methods m WHERE m.user_id = u.id AND m.data->>'Type' = "+arg(storable(q.Method))+")")
	}
	var units []string
	for _, id := range q.OrgUnitIDs {
		units = append(units, storable(id))
	}
	// A cursor that does not decode is a position nowhere: start at the top.
	cursor, err := base64.RawURLEncoding.DecodeString(q.Cursor)
	if err != nil {
		cursor = nil
	}

	var cand string
	text := []byte(storage.SearchKey(q.Text))
	if len(text) > 0 {
		// The terms starting with text are the range [text, after).
		inRange := "term >= " + arg(text)
		if after := successor(text); after != nil {
			inRange += " AND term < " + arg(after)
		}
		term, id, _ := bytes.Cut(cursor, []byte{0})
		cand = fmt.Sprintf("SELECT term AS pos, user_id FROM user_terms WHERE %s AND (term, user_id) > (%s, %s) ORDER BY term, user_id",
			inRange, arg(nonNil(term)), arg(storable(string(id))))
		if units != nil {
			filters = append(filters, "u.org_unit_id = ANY("+arg(units)+")")
		}
		// Not a later match of a user taken at an earlier one.
		filters = append(filters, "NOT EXISTS (SELECT 1 FROM user_terms t WHERE t.user_id = c.user_id AND t."+
			inRange+" AND t.term < c.pos)")
	} else {
		// Usernames in byte order (COLLATE "C"), as bytea.
		cand = "SELECT convert_to(username, 'UTF8') AS pos, id AS user_id FROM users WHERE username > " + arg(storable(string(cursor)))
		if units != nil {
			cand += " AND org_unit_id = ANY(" + arg(units) + ")"
		}
		cand += " ORDER BY username"
	}
	keep := "true"
	for _, f := range filters {
		keep += " AND " + f
	}
	// The users kept, one more than a page to know whether there are
	// more, then the last entry walked and how many were.
	sql := fmt.Sprintf(`WITH cand AS (%s LIMIT %s),
		kept AS (SELECT c.pos, c.user_id, u.data FROM cand c JOIN users u ON u.id = c.user_id
			WHERE %s ORDER BY c.pos, c.user_id LIMIT %s)
		SELECT 0 AS k, pos, user_id, data, 0::bigint FROM kept
		UNION ALL
		(SELECT 1, pos, user_id, NULL, (SELECT count(*) FROM cand) FROM cand ORDER BY pos DESC, user_id DESC LIMIT 1)
		ORDER BY 1, 2, 3`, cand, arg(maxWalked), keep, arg(limit+1))

	type entry struct {
		pos    []byte
		userID string
	}
	var kept []entry
	var last entry
	var walked int64
	var page storage.UserPage
	err = db.read(ctx, "search users", func(qr querier) error {
		rows, err := qr.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k int
			var e entry
			var data []byte
			var n int64
			if err := rows.Scan(&k, &e.pos, &e.userID, &data, &n); err != nil {
				return err
			}
			if k == 1 {
				last, walked = e, n
				continue
			}
			u, err := users.decode(data)
			if err != nil {
				return err
			}
			kept, page.Users = append(kept, e), append(page.Users, u)
		}
		return rows.Err()
	})
	if err != nil {
		return storage.UserPage{}, err
	}
	position := func(e entry) string {
		pos := e.pos
		if len(text) > 0 {
			pos = append(append(slices.Clip(pos), 0), e.userID...)
		}
		return base64.RawURLEncoding.EncodeToString(pos)
	}
	switch {
	case len(page.Users) > limit:
		page.Users = page.Users[:limit]
		page.Next = position(kept[limit-1])
	case walked == maxWalked:
		page.Next = position(last)
	}
	return page, nil
}

// successor is the least byte string greater than every string that
// starts with prefix, nil when there is none (prefix is all 0xff).
func successor(prefix []byte) []byte {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xff {
			next := slices.Clone(prefix[:i+1])
			next[i]++
			return next
		}
	}
	return nil
}
