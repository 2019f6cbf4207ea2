package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

var (
	orgUnits = newTable("org_units", func(o storage.OrgUnit) string { return o.ID }, false,
		col("parent_id", func(o storage.OrgUnit) any { return text(o.ParentID) }))

	users = newTable("users", func(u storage.User) string { return u.ID }, true,
		col("username", func(u storage.User) any { return storable(u.Username) }),
		col("email", func(u storage.User) any { return text(u.Email) }),
		col("org_unit_id", func(u storage.User) any { return text(u.OrgUnitID) }),
		col("admin", func(u storage.User) any {
			return slices.ContainsFunc(u.Roles, func(r storage.RoleBinding) bool {
				return r.Role == storage.RoleGlobalAdmin || r.Role == storage.RoleOrgAdmin
			})
		}))
)

// maxDepth bounds a walk up the tree, which the checks below keep acyclic.
const maxDepth = 64

// CreateOrgUnit implements storage.OrgUnits. A second root is refused by
// the unique index org_units_one_root; the parent's row is locked FOR KEY
// SHARE while it is checked, so it cannot be deleted before the child
// commits (the foreign key on parent_id backs this up).
func (db *DB) CreateOrgUnit(ctx context.Context, ou storage.OrgUnit) error {
	return db.write(ctx, "create org unit", func(tx pgx.Tx) error { return createOrgUnit(ctx, tx, ou) })
}

func createOrgUnit(ctx context.Context, tx pgx.Tx, ou storage.OrgUnit) error {
	if ou.ParentID != "" {
		if err := checkUnit(ctx, tx, ou.ParentID, "parent org unit"); err != nil {
			return err
		}
	}
	err := orgUnits.insert(ctx, tx, ou)
	if errors.Is(err, storage.ErrAlreadyExists) && ou.ParentID == "" {
		// The id is taken, or there is a root: say which.
		if _, err := orgUnits.get(ctx, tx, ou.ID, false); errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("there is a root org unit already: %w", storage.ErrConflict)
		}
	}
	return err
}

// checkUnit refuses a reference to a missing org unit with ErrConflict,
// and keeps the unit from being deleted until the transaction ends.
func checkUnit(ctx context.Context, tx pgx.Tx, id, what string) error {
	var found string
	err := tx.QueryRow(ctx, "SELECT id FROM org_units WHERE id = $1 FOR KEY SHARE", storable(id)).Scan(&found)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s %s is missing: %w", what, id, storage.ErrConflict)
	}
	return err
}

// GetOrgUnit implements storage.OrgUnits.
func (db *DB) GetOrgUnit(ctx context.Context, id string) (storage.OrgUnit, error) {
	return getRecord(ctx, db, orgUnits, "get org unit", id)
}

// UpdateOrgUnit implements storage.OrgUnits. A move takes the advisory
// lock "org_units/tree" before it walks up from its new parent, so moves
// run one at a time, each seeing the tree the one before left: two moves
// that together would make a cycle cannot both pass their walk.
func (db *DB) UpdateOrgUnit(ctx context.Context, id string, update func(storage.OrgUnit) (storage.OrgUnit, error)) (ou storage.OrgUnit, err error) {
	err = db.write(ctx, "update org unit", func(tx pgx.Tx) error {
		ou, err = orgUnits.update(ctx, tx, id, func(old storage.OrgUnit) (storage.OrgUnit, error) {
			next, err := update(old)
			if err != nil || next.ParentID == old.ParentID {
				return next, err
			}
			if old.ParentID == "" || next.ParentID == "" {
				return next, fmt.Errorf("org unit %s cannot move to or from the top: %w", id, storage.ErrConflict)
			}
			if err := lock(ctx, tx, "org_units/tree"); err != nil {
				return next, err
			}
			return next, checkAncestors(ctx, tx, next)
		})
		return err
	})
	return ou, err
}

// checkAncestors walks up from ou's new parent, refusing a missing unit
// or ou itself on the way, and locks each unit it passes FOR KEY SHARE.
func checkAncestors(ctx context.Context, tx pgx.Tx, ou storage.OrgUnit) error {
	for id, depth := ou.ParentID, 0; id != ""; depth++ {
		if id == ou.ID || depth > maxDepth {
			return fmt.Errorf("org unit %s would be under itself: %w", ou.ID, storage.ErrConflict)
		}
		var parent *string
		err := tx.QueryRow(ctx, "SELECT parent_id FROM org_units WHERE id = $1 FOR KEY SHARE", storable(id)).Scan(&parent)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("parent org unit %s is missing: %w", id, storage.ErrConflict)
		}
		if err != nil {
			return err
		}
		id = ""
		if parent != nil {
			id = *parent
		}
	}
	return nil
}

// DeleteOrgUnit implements storage.OrgUnits. It locks the unit's row
// first: a child or user being added holds it FOR KEY SHARE, so the
// delete waits for that to commit and then sees it, and one added after
// finds the unit gone.
func (db *DB) DeleteOrgUnit(ctx context.Context, id string) error {
	return db.write(ctx, "delete org unit", func(tx pgx.Tx) error {
		if !validID(id) {
			return storage.ErrNotFound
		}
		// FOR UPDATE, not NO KEY: it is the lock that conflicts with
		// KEY SHARE.
		var found string
		err := tx.QueryRow(ctx, "SELECT id FROM org_units WHERE id = $1 FOR UPDATE", id).Scan(&found)
		if errors.Is(err, pgx.ErrNoRows) {
			return storage.ErrNotFound
		}
		if err != nil {
			return err
		}
		var children, members bool
		if err := tx.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM org_units WHERE parent_id = $1),
			EXISTS (SELECT 1 FROM users WHERE org_unit_id = $1)`, id).Scan(&children, &members); err != nil {
			return err
		}
		switch {
		case children:
			return fmt.Errorf("org unit has child units: %w", storage.ErrNotEmpty)
		case members:
			return fmt.Errorf("org unit has users: %w", storage.ErrNotEmpty)
		}
		return orgUnits.delete(ctx, tx, id)
	})
}

// ListOrgUnits implements storage.OrgUnits.
func (db *DB) ListOrgUnits(ctx context.Context) ([]storage.OrgUnit, error) {
	return listWhere(ctx, db, orgUnits, "list org units", `true ORDER BY id COLLATE "C"`)
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

// CreateUser implements storage.Users. The unique indexes on username and
// email keep both unique; the org unit is locked while it is checked.
func (db *DB) CreateUser(ctx context.Context, u storage.User) error {
	return db.write(ctx, "create user", func(tx pgx.Tx) error { return createUser(ctx, tx, u) })
}

func createUser(ctx context.Context, tx pgx.Tx, u storage.User) error {
	u, err := normalizeUser(u)
	if err != nil {
		return err
	}
	if u.OrgUnitID != "" {
		if err := checkUnit(ctx, tx, u.OrgUnitID, "org unit"); err != nil {
			return err
		}
	}
	if err := users.insert(ctx, tx, u); err != nil {
		return err
	}
	return indexTerms(ctx, tx, nil, u)
}

// GetUser implements storage.Users.
func (db *DB) GetUser(ctx context.Context, id string) (storage.User, error) {
	return getRecord(ctx, db, users, "get user", id)
}

// GetUserByUsername implements storage.Users.
func (db *DB) GetUserByUsername(ctx context.Context, username string) (storage.User, error) {
	name, err := storage.NormalizeUsername(username)
	if err != nil {
		// No stored username fails normalisation, so none can match.
		return storage.User{}, fmt.Errorf("get user by username: %w", storage.ErrNotFound)
	}
	return userWhere(ctx, db, "get user by username", "username = $1", storable(name))
}

// GetUserByEmail implements storage.Users.
func (db *DB) GetUserByEmail(ctx context.Context, email string) (storage.User, error) {
	return userWhere(ctx, db, "get user by email", "email = $1", text(storage.NormalizeEmail(email)))
}

func userWhere(ctx context.Context, db *DB, op, cond string, arg any) (storage.User, error) {
	list, err := listWhere(ctx, db, users, op, cond, arg)
	if err != nil {
		return storage.User{}, err
	}
	if len(list) == 0 {
		return storage.User{}, fmt.Errorf("%s: %w", op, storage.ErrNotFound)
	}
	return list[0], nil
}

// UpdateUser implements storage.Users.
func (db *DB) UpdateUser(ctx context.Context, id string, update func(storage.User) (storage.User, error)) (u storage.User, err error) {
	err = db.write(ctx, "update user", func(tx pgx.Tx) error {
		u, err = updateUser(ctx, tx, id, update)
		return err
	})
	return u, err
}

func updateUser(ctx context.Context, tx pgx.Tx, id string, update func(storage.User) (storage.User, error)) (storage.User, error) {
	var before storage.User
	u, err := users.update(ctx, tx, id, func(old storage.User) (storage.User, error) {
		before = old
		next, err := update(old)
		if err != nil {
			return next, err
		}
		if next.OrgUnitID != old.OrgUnitID && next.OrgUnitID != "" {
			if err := checkUnit(ctx, tx, next.OrgUnitID, "org unit"); err != nil {
				return next, err
			}
		}
		return normalizeUser(next)
	})
	if err != nil {
		return u, err
	}
	return u, indexTerms(ctx, tx, &before, u)
}

// DeleteUser implements storage.Users.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	return deleteRecord(ctx, db, users, "delete user", id)
}

// ListUsers implements storage.Users. The cursor is the last username of
// the previous page; usernames are in byte order (COLLATE "C"), as bbolt's.
func (db *DB) ListUsers(ctx context.Context, cursor string, limit int) (storage.UserPage, error) {
	cond, args := "username > $1 ORDER BY username", []any{storable(cursor)}
	if limit > 0 {
		// One more than the page, to know whether there is a next.
		cond, args = cond+" LIMIT $2", append(args, limit+1)
	}
	list, err := listWhere(ctx, db, users, "list users", cond, args...)
	if err != nil {
		return storage.UserPage{}, err
	}
	page := storage.UserPage{Users: list}
	if limit > 0 && len(list) > limit {
		page.Users = list[:limit]
		page.Next = list[limit-1].Username
	}
	return page, nil
}

// ListAdmins implements storage.Users, by the partial index users_admins.
func (db *DB) ListAdmins(ctx context.Context) ([]storage.User, error) {
	return listWhere(ctx, db, users, "list admins", "admin ORDER BY username")
}

// CountUsers implements storage.Users.
func (db *DB) CountUsers(ctx context.Context, orgUnitID string) (n int, err error) {
	err = db.read(ctx, "count users", func(q querier) error {
		return q.QueryRow(ctx, "SELECT count(*) FROM users WHERE org_unit_id = $1", text(orgUnitID)).Scan(&n)
	})
	return n, err
}
