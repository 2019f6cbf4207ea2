package bbolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse-id/gatehouse/storage"
)

// User search has two indexes of its own:
//
//   - users_by_org_unit_name (a table index, so every user write keeps it in
//     step) holds unit\x00username\x00id: each unit's users in username
//     order, merged across the units of a subtree without a sort.
//   - users_by_term holds term\x00id for every term a user is found by
//     (see storage.SearchTerms): a search for a prefix is one Seek and a walk of the
//     keys that start with it. Each entry's value is the user's MFA switch
//     and unit (termValue), so those filters skip a user without loading
//     it. A user has several terms, which the one-key table indexes cannot
//     hold, so the user writes in directory.go keep it in step through
//     indexTerms.
//
// One call walks at most maxWalked index entries and loads at most
// maxExamined users, whatever the filters: a filter few users pass yields
// a short page with a Next rather than a walk over every user.
var (
	userByOrgUnitName = multi("users_by_org_unit_name", func(u storage.User) string {
		return u.OrgUnitID + "\x00" + u.Username
	})
	userTermsBucket = []byte("users_by_term")
	// userSearchKey marks, in the meta bucket, a store whose search
	// indexes were built; a store from before them gets them at Open.
	userSearchKey = []byte("user_search_index")
)

const (
	defaultSearchLimit = 50
	maxWalked          = 20_000
	maxExamined        = 1000
)

// termValue is what a user's term entries hold: their MFA switch, then
// their unit.
func termValue(u storage.User) []byte {
	flag := byte('0')
	if u.MFAEnabled {
		flag = '1'
	}
	return append([]byte{flag}, u.OrgUnitID...)
}

// indexTerms moves a user's term entries from old to u (either may be nil:
// a new or a deleted user).
func indexTerms(tx *bolt.Tx, old, u *storage.User) error {
	var before, after []string
	var id string
	var oldValue, value []byte
	if old != nil {
		before, id, oldValue = storage.SearchTerms(*old), old.ID, termValue(*old)
	}
	if u != nil {
		after, id, value = storage.SearchTerms(*u), u.ID, termValue(*u)
	}
	b := tx.Bucket(userTermsBucket)
	for _, t := range before {
		if !slices.Contains(after, t) {
			if err := b.Delete([]byte(t + "\x00" + id)); err != nil {
				return err
			}
		}
	}
	for _, t := range after {
		if !slices.Contains(before, t) || !bytes.Equal(value, oldValue) {
			if err := b.Put([]byte(t+"\x00"+id), value); err != nil {
				return err
			}
		}
	}
	return nil
}

// setupUserSearch, in a store written before the search indexes, fills
// both from the users already stored.
func setupUserSearch(tx *bolt.Tx) error {
	meta := tx.Bucket(metaBucket)
	if meta.Get(userSearchKey) != nil {
		return nil
	}
	units := tx.Bucket(userByOrgUnitName.bucket)
	list, err := users.all(tx)
	if err != nil {
		return err
	}
	for _, u := range list {
		if err := units.Put(userByOrgUnitName.entry(userByOrgUnitName.key(u), u.ID), []byte{}); err != nil {
			return err
		}
		if err := indexTerms(tx, nil, &u); err != nil {
			return err
		}
	}
	return meta.Put(userSearchKey, []byte("1"))
}

// SearchUsers implements storage.Users. With Text it walks the term index
// from the text; otherwise the unit index, merging the units' username
// ranges, or the username index. A page's Next is the index position it
// stopped at, so paging stays exact when users come and go.
func (db *DB) SearchUsers(ctx context.Context, q storage.UserQuery) (page storage.UserPage, err error) {
	s := userSearch{q: q, limit: q.Limit, text: storage.SearchKey(q.Text)}
	if s.limit <= 0 {
		s.limit = defaultSearchLimit
	}
	switch q.MFA {
	case "", "on", "off":
	default:
		return page, fmt.Errorf("search users: MFA filter %q is neither on nor off", q.MFA)
	}
	if len(q.OrgUnitIDs) > 0 {
		s.units = map[string]bool{}
		for _, id := range q.OrgUnitIDs {
			s.units[id] = true
		}
	}
	// A cursor that does not decode is a position nowhere: start at the
	// top. (DecodeString returns what it read before the bad byte, which
	// would be a position somewhere.)
	if c, err := base64.RawURLEncoding.DecodeString(q.Cursor); err == nil {
		s.cursor = c
	}
	err = db.view(ctx, "search users", func(tx *bolt.Tx) error {
		s.tx, s.page = tx, storage.UserPage{}
		switch {
		case s.text != "":
			return s.byTerm()
		case s.units != nil:
			return s.byUnits()
		default:
			return s.byUsername()
		}
	})
	return s.page, err
}

// userSearch is one SearchUsers call.
type userSearch struct {
	tx       *bolt.Tx
	q        storage.UserQuery
	text     string
	units    map[string]bool
	cursor   []byte
	limit    int
	walked   int
	examined int
	page     storage.UserPage
}

// full reports whether the walk must stop (the page is full or a budget
// spent), setting Next to last, the position looked at last. It is asked
// before each entry, so the last page has no Next.
func (s *userSearch) full(last []byte) bool {
	if len(s.page.Users) < s.limit && s.walked < maxWalked && s.examined < maxExamined {
		return false
	}
	s.page.Next = base64.RawURLEncoding.EncodeToString(last)
	return true
}

// consider examines the user with id, adding them to the page if the
// query's filters (and keep, when set) let them through.
func (s *userSearch) consider(id string, keep func(storage.User) bool) error {
	s.examined++
	u, err := users.get(s.tx, id)
	if err != nil {
		return err
	}
	if (keep != nil && !keep(u)) || (s.units != nil && !s.units[u.OrgUnitID]) ||
		(s.q.MFA == "on" && !u.MFAEnabled) || (s.q.MFA == "off" && u.MFAEnabled) {
		return nil
	}
	if s.q.Method != "" {
		ok, err := hasMethodType(s.tx, u.ID, s.q.Method)
		if err != nil || !ok {
			return err
		}
	}
	s.page.Users = append(s.page.Users, u)
	return nil
}

func hasMethodType(tx *bolt.Tx, userID, typ string) (bool, error) {
	for _, id := range methodsByUser.ids(tx, userID, 0) {
		m, err := methods.get(tx, id)
		if err != nil {
			return false, err
		}
		if m.Type == typ {
			return true, nil
		}
	}
	return false, nil
}

// start positions c at the first entry after the cursor, or at from when
// the cursor is before it.
func (s *userSearch) start(c *bolt.Cursor, from []byte) (k, v []byte) {
	if bytes.Compare(s.cursor, from) < 0 {
		return c.Seek(from)
	}
	if k, v = c.Seek(s.cursor); bytes.Equal(k, s.cursor) {
		return c.Next()
	}
	return k, v
}

// byTerm walks the terms that start with the text. A user with several
// such terms is taken at the first, so they appear once.
func (s *userSearch) byTerm() error {
	prefix := []byte(s.text)
	var last []byte
	c := s.tx.Bucket(userTermsBucket).Cursor()
	for k, v := s.start(c, prefix); bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if s.full(last) {
			return nil
		}
		sep := bytes.LastIndexByte(k, 0)
		if sep < 0 {
			continue
		}
		term := string(k[:sep])
		s.walked, last = s.walked+1, k
		if !s.passes(v) {
			continue
		}
		if err := s.consider(string(k[sep+1:]), func(u storage.User) bool { return firstMatch(u, s.text) == term }); err != nil {
			return err
		}
	}
	return nil
}

// passes reports whether a term entry's value (see termValue) lets its
// user through the unit and MFA filters.
func (s *userSearch) passes(v []byte) bool {
	if len(v) == 0 {
		return true // the user decides
	}
	return (s.units == nil || s.units[string(v[1:])]) &&
		(s.q.MFA == "" || (s.q.MFA == "on") == (v[0] == '1'))
}

// firstMatch is the lowest of u's terms that starts with text.
func firstMatch(u storage.User, text string) string {
	for _, t := range storage.SearchTerms(u) { // sorted
		if strings.HasPrefix(t, text) {
			return t
		}
	}
	return ""
}

// byUsername walks every user in username order.
func (s *userSearch) byUsername() error {
	var last []byte
	c := s.tx.Bucket(userByUsername.bucket).Cursor()
	for k, id := s.start(c, nil); k != nil; k, id = c.Next() {
		if s.full(last) {
			return nil
		}
		if err := s.consider(string(id), nil); err != nil {
			return err
		}
		last = k
	}
	return nil
}

// unitHead is the next entry of one unit's range in the unit index.
type unitHead struct {
	c        *bolt.Cursor
	prefix   []byte
	username []byte
	id       string
}

func (h *unitHead) set(k []byte) {
	h.username = nil
	if !bytes.HasPrefix(k, h.prefix) {
		return
	}
	rest := k[len(h.prefix):]
	sep := bytes.IndexByte(rest, 0)
	if sep < 0 {
		return
	}
	h.username, h.id = rest[:sep], string(rest[sep+1:])
}

// byUnits merges the units' ranges of the unit index, each in username
// order, into one list in username order. The cursor is a username.
func (s *userSearch) byUnits() error {
	var heads []*unitHead
	for id := range s.units {
		h := &unitHead{c: s.tx.Bucket(userByOrgUnitName.bucket).Cursor(), prefix: []byte(id + "\x00")}
		k, _ := h.c.Seek(append(slices.Clip(h.prefix), s.cursor...))
		h.set(k)
		// Past the cursor's own username, and the one a cursor holding
		// \x00 starts with ("bob\x00" seeks to bob's entry; no username
		// holds \x00).
		for h.username != nil && len(s.cursor) > 0 && bytes.Compare(h.username, s.cursor) <= 0 {
			k, _ = h.c.Next()
			h.set(k)
		}
		heads = append(heads, h)
	}
	var last []byte
	for {
		var next *unitHead
		for _, h := range heads {
			if h.username != nil && (next == nil || bytes.Compare(h.username, next.username) < 0) {
				next = h
			}
		}
		if next == nil || s.full(last) {
			return nil
		}
		if err := s.consider(next.id, nil); err != nil {
			return err
		}
		last = slices.Clone(next.username)
		k, _ := next.c.Next()
		next.set(k)
	}
}
