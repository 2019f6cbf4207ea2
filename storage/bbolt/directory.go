package bbolt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse-id/gatehouse/storage"
)

var (
	ouByParent = multi("org_units_by_parent", func(o storage.OrgUnit) string { return o.ParentID })
	orgUnits   = newTable("org_units", func(o storage.OrgUnit) string { return o.ID }, ouByParent)

	userByUsername = unique("users_by_username", func(u storage.User) string { return u.Username })
	userByEmail    = unique("users_by_email", func(u storage.User) string { return u.Email })
	// userByOrgUnit lets DeleteOrgUnit find a member without a scan.
	userByOrgUnit = multi("users_by_org_unit", func(u storage.User) string { return u.OrgUnitID })
	// usersByAdmin holds the admins under adminKey.
	usersByAdmin = multi("users_by_admin", func(u storage.User) string {
		if slices.ContainsFunc(u.Roles, func(r storage.RoleBinding) bool {
			return r.Role == storage.RoleGlobalAdmin || r.Role == storage.RoleOrgAdmin
		}) {
			return adminKey
		}
		return ""
	})
	users = newTable("users", func(u storage.User) string { return u.ID }, userByUsername, userByEmail, userByOrgUnit, userByOrgUnitName, usersByAdmin)
)

const adminKey = "admin"

// CreateOrgUnit implements storage.OrgUnits.
func (db *DB) CreateOrgUnit(ctx context.Context, ou storage.OrgUnit) error {
	return db.update(ctx, "create org unit", func(tx *bolt.Tx) error {
		if err := checkParent(tx, ou); err != nil {
			return err
		}
		return orgUnits.insert(tx, ou)
	})
}

// checkParent refuses ou where it would break the tree: under a missing
// unit, under itself or its own descendant, or as a second root.
func checkParent(tx *bolt.Tx, ou storage.OrgUnit) error {
	if ou.ParentID == "" {
		// Rare (the first start), and units are few: a walk is fine.
		all, err := orgUnits.all(tx)
		if err != nil {
			return err
		}
		for _, o := range all {
			if o.ParentID == "" && o.ID != ou.ID {
				return fmt.Errorf("org unit %s is the root already: %w", o.ID, storage.ErrConflict)
			}
		}
		return nil
	}
	for id, depth := ou.ParentID, 0; id != ""; depth++ {
		if id == ou.ID || depth > maxDepth {
			return fmt.Errorf("org unit %s would be under itself: %w", ou.ID, storage.ErrConflict)
		}
		p, err := orgUnits.get(tx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("parent org unit %s is missing: %w", id, storage.ErrConflict)
		}
		if err != nil {
			return err
		}
		id = p.ParentID
	}
	return nil
}

// maxDepth bounds a walk up the tree, which checkParent keeps acyclic.
const maxDepth = 64

// checkOrgUnit refuses a user in a missing org unit.
func checkOrgUnit(tx *bolt.Tx, u storage.User) error {
	if u.OrgUnitID == "" {
		return nil
	}
	if _, err := orgUnits.get(tx, u.OrgUnitID); errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("org unit %s is missing: %w", u.OrgUnitID, storage.ErrConflict)
	} else if err != nil {
		return err
	}
	return nil
}

// GetOrgUnit implements storage.OrgUnits.
func (db *DB) GetOrgUnit(ctx context.Context, id string) (storage.OrgUnit, error) {
	return getRecord(ctx, db, orgUnits, "get org unit", id)
}

// UpdateOrgUnit implements storage.OrgUnits.
func (db *DB) UpdateOrgUnit(ctx context.Context, id string, update func(storage.OrgUnit) (storage.OrgUnit, error)) (ou storage.OrgUnit, err error) {
	err = db.update(ctx, "update org unit", func(tx *bolt.Tx) error {
		ou, err = orgUnits.update(tx, id, func(old storage.OrgUnit) (storage.OrgUnit, error) {
			next, err := update(old)
			if err == nil && next.ParentID != old.ParentID {
				if old.ParentID == "" || next.ParentID == "" {
					return next, fmt.Errorf("org unit %s cannot move to or from the top: %w", id, storage.ErrConflict)
				}
				err = checkParent(tx, next)
			}
			return next, err
		})
		return err
	})
	return ou, err
}

// DeleteOrgUnit implements storage.OrgUnits.
func (db *DB) DeleteOrgUnit(ctx context.Context, id string) error {
	return db.update(ctx, "delete org unit", func(tx *bolt.Tx) error {
		if len(ouByParent.ids(tx, id, 1)) > 0 {
			return fmt.Errorf("org unit has child units: %w", storage.ErrNotEmpty)
		}
		if len(userByOrgUnit.ids(tx, id, 1)) > 0 {
			return fmt.Errorf("org unit has users: %w", storage.ErrNotEmpty)
		}
		return orgUnits.delete(tx, id)
	})
}

// ListOrgUnits implements storage.OrgUnits.
func (db *DB) ListOrgUnits(ctx context.Context) ([]storage.OrgUnit, error) {
	return listRecords(ctx, db, orgUnits, "list org units")
}

// normalizeUser stores usernames and emails in their normalised form, so the
// unique indexes see "Alice" and "alice" as the one account they are.
func normalizeUser(u storage.User) (storage.User, error) {
	name, err := storage.NormalizeUsername(u.Username)
	if err != nil {
		return u, err
	}
	u.Username = name
	u.Email = storage.NormalizeEmail(u.Email)
	return u, nil
}

// CreateUser implements storage.Users.
func (db *DB) CreateUser(ctx context.Context, u storage.User) error {
	return db.update(ctx, "create user", func(tx *bolt.Tx) error { return createUser(tx, u) })
}

func createUser(tx *bolt.Tx, u storage.User) error {
	u, err := normalizeUser(u)
	if err != nil {
		return err
	}
	return insertUser(tx, u)
}

// insertUser stores u as it is, in its org unit, with its index and
// search entries.
func insertUser(tx *bolt.Tx, u storage.User) error {
	if err := checkOrgUnit(tx, u); err != nil {
		return err
	}
	if err := users.insert(tx, u); err != nil {
		return err
	}
	return indexTerms(tx, nil, &u)
}

// GetUser implements storage.Users.
func (db *DB) GetUser(ctx context.Context, id string) (storage.User, error) {
	return getRecord(ctx, db, users, "get user", id)
}

// GetUserByUsername implements storage.Users.
func (db *DB) GetUserByUsername(ctx context.Context, username string) (u storage.User, err error) {
	name, err := storage.NormalizeUsername(username)
	if err != nil {
		// No stored username fails normalisation, so none can match.
		return u, fmt.Errorf("get user by username: %w", storage.ErrNotFound)
	}
	err = db.view(ctx, "get user by username", func(tx *bolt.Tx) error {
		u, err = users.lookup(tx, userByUsername, name)
		return err
	})
	return u, err
}

// GetUserByEmail implements storage.Users.
func (db *DB) GetUserByEmail(ctx context.Context, email string) (u storage.User, err error) {
	email = storage.NormalizeEmail(email)
	err = db.view(ctx, "get user by email", func(tx *bolt.Tx) error {
		if email == "" {
			return storage.ErrNotFound
		}
		u, err = users.lookup(tx, userByEmail, email)
		return err
	})
	return u, err
}

// UpdateUser implements storage.Users.
func (db *DB) UpdateUser(ctx context.Context, id string, update func(storage.User) (storage.User, error)) (u storage.User, err error) {
	err = db.update(ctx, "update user", func(tx *bolt.Tx) error {
		u, err = updateUser(tx, id, update)
		return err
	})
	return u, err
}

func updateUser(tx *bolt.Tx, id string, update func(storage.User) (storage.User, error)) (storage.User, error) {
	var before storage.User
	u, err := users.update(tx, id, func(old storage.User) (storage.User, error) {
		before = old
		next, err := update(old)
		if err != nil {
			return next, err
		}
		if next.OrgUnitID != old.OrgUnitID {
			if err := checkOrgUnit(tx, next); err != nil {
				return next, err
			}
		}
		return normalizeUser(next)
	})
	if err != nil {
		return u, err
	}
	return u, indexTerms(tx, &before, &u)
}

// DeleteUser implements storage.Users.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	return db.update(ctx, "delete user", func(tx *bolt.Tx) error {
		old, err := users.get(tx, id)
		if err != nil {
			return err
		}
		if err := users.remove(tx, old); err != nil {
			return err
		}
		return indexTerms(tx, &old, nil)
	})
}

// ListUsers implements storage.Users. The cursor is the last username of the
// previous page, so a page stays correct when users are added or deleted
// between requests.
func (db *DB) ListUsers(ctx context.Context, cursor string, limit int) (page storage.UserPage, err error) {
	err = db.view(ctx, "list users", func(tx *bolt.Tx) error {
		page = storage.UserPage{}
		c := tx.Bucket(userByUsername.bucket).Cursor()
		k, id := c.Seek([]byte(cursor))
		if cursor != "" && string(k) == cursor {
			k, id = c.Next()
		}
		for ; k != nil; k, id = c.Next() {
			if limit > 0 && len(page.Users) == limit {
				page.Next = page.Users[len(page.Users)-1].Username
				break
			}
			u, err := users.get(tx, string(id))
			if err != nil {
				return err
			}
			page.Users = append(page.Users, u)
		}
		return nil
	})
	return page, err
}

// ListAdmins implements storage.Users.
func (db *DB) ListAdmins(ctx context.Context) (list []storage.User, err error) {
	err = db.view(ctx, "list admins", func(tx *bolt.Tx) (err error) {
		list, err = users.under(tx, usersByAdmin, adminKey)
		return err
	})
	slices.SortFunc(list, func(a, b storage.User) int { return strings.Compare(a.Username, b.Username) })
	return list, err
}

// CountUsers implements storage.Users.
func (db *DB) CountUsers(ctx context.Context, orgUnitID string) (n int, err error) {
	err = db.view(ctx, "count users", func(tx *bolt.Tx) error {
		n = len(userByOrgUnit.ids(tx, orgUnitID, 0))
		return nil
	})
	return n, err
}
