package storage

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// Kind is a kind of lasting record, as a whole-store copy (Copier) reads,
// writes and counts them.
type Kind string

// The lasting kinds. Secrets counts each secret of each purpose (the
// cookie keys, the token-encryption key, ...); settings counts the one
// record, when it is stored.
const (
	KindOrgUnits          Kind = "org units"
	KindUsers             Kind = "users"
	KindMethods           Kind = "methods"
	KindExceptions        Kind = "exceptions"
	KindClients           Kind = "clients"
	KindRememberedDevices Kind = "remembered devices"
	KindAppPasswords      Kind = "app passwords"
	KindRefreshTokens     Kind = "refresh tokens"
	KindAccessTokens      Kind = "access tokens"
	KindNotifications     Kind = "notifications"
	KindAudit             Kind = "audit events"
	KindSigningKeys       Kind = "signing keys"
	KindSecrets           Kind = "secrets"
	KindSettings          Kind = "settings"
)

// CopyKinds are the lasting kinds in the order a copy writes them: a
// record after those it refers to, so that a user's org unit is there
// when the user is written.
var CopyKinds = []Kind{
	KindOrgUnits, KindUsers, KindMethods, KindExceptions, KindClients, KindRememberedDevices, KindAppPasswords,
	KindRefreshTokens, KindAccessTokens, KindNotifications, KindAudit, KindSigningKeys, KindSecrets, KindSettings,
}

// Records are records of the lasting kinds, as Copier moves them: Export
// yields one kind at a time, and Restore writes whatever they hold.
type Records struct {
	// OrgUnits are in tree order: a unit after its parent (see TreeOrder).
	OrgUnits          []OrgUnit
	Users             []User
	Methods           []Method
	Exceptions        []Exception
	Clients           []Client
	RememberedDevices []RememberedDevice
	AppPasswords      []AppPassword
	RefreshTokens     []RefreshToken
	AccessTokens      []AccessToken
	Notifications     []Notification
	Audit             []AuditEvent
	// SigningKeys is the whole key set, and Secrets each purpose's whole
	// list: each is one value in the store, written at once.
	SigningKeys []SigningKey
	Secrets     map[string][]Secret
	Settings    *Settings
}

// LogValue logs how many records of each kind r holds, never the records:
// they hold password hashes and key material.
func (r Records) LogValue() slog.Value {
	c := r.Counts()
	var attrs []slog.Attr
	for _, k := range CopyKinds {
		if c[k] > 0 {
			attrs = append(attrs, slog.Int(string(k), c[k]))
		}
	}
	return slog.GroupValue(attrs...)
}

// Counts are how many records of each kind there are.
type Counts map[Kind]int

// Counts counts the records r holds, by kind.
func (r Records) Counts() Counts {
	c := Counts{
		KindOrgUnits: len(r.OrgUnits), KindUsers: len(r.Users), KindMethods: len(r.Methods), KindExceptions: len(r.Exceptions),
		KindClients: len(r.Clients), KindRememberedDevices: len(r.RememberedDevices), KindAppPasswords: len(r.AppPasswords),
		KindRefreshTokens: len(r.RefreshTokens), KindAccessTokens: len(r.AccessTokens), KindNotifications: len(r.Notifications),
		KindAudit: len(r.Audit), KindSigningKeys: len(r.SigningKeys),
	}
	for _, list := range r.Secrets {
		c[KindSecrets] += len(list)
	}
	if r.Settings != nil {
		c[KindSettings] = 1
	}
	return c
}

// Total is the number of records counted.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// String lists the kinds counted, in CopyKinds order: "1 org units, 3 users".
func (c Counts) String() string {
	var parts []string
	for _, k := range CopyKinds {
		if c[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[k], k))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// Copier reads a whole store out and writes one in, record for record:
// what `gatehouse migrate` needs to move a store to the other backend.
//
// It moves the lasting records (the kinds in CopyKinds), with their ids,
// times, hashes and sealed secrets exactly as stored. It leaves out what
// lives minutes or hours with one browser: auth requests and their codes,
// challenges, sessions and throttle records, so users of a copy sign in
// again. Refresh and access tokens are grants a relying party holds, tied
// to no session: they are copied, so relying parties carry on.
type Copier interface {
	// Export calls fn with every lasting record, at most batch records of
	// one kind a call (the signing key set, and the secrets, come whole),
	// kind after kind in CopyKinds order, all read from one snapshot of
	// the store. An error from fn stops it and is returned. fn writes to
	// another store, never this one: the snapshot is held while it runs.
	Export(ctx context.Context, batch int, fn func(Records) error) error
	// Restore writes every record in r in one transaction, exactly as
	// given, with the index entries the backend's own writes keep: all
	// of them, or, on an error, none. A record whose id or unique key
	// (username, email, a protected app's host, a device's browser) is
	// taken, or a signing key set, purpose or settings already stored,
	// fails it with ErrAlreadyExists; an org unit under a missing unit,
	// or a second root, or a user in a missing unit, with ErrConflict.
	// The rules a store keeps between records of one kind (one exception
	// in force, at most MaxAppPasswords) are not checked again: the
	// records kept them where they were written.
	Restore(ctx context.Context, r Records) error
	// Count counts the lasting records of each kind, from one snapshot.
	Count(ctx context.Context) (Counts, error)
}

// Copy copies every lasting record of from into to, batch records a
// transaction, and returns how many of each kind it wrote. progress, if
// not nil, is told of each batch written. to should be empty: a record
// it holds already fails the batch that brings it again, and the copy
// stops there, with the batches before it written. Its error says
// whether reading from or writing to failed.
func Copy(ctx context.Context, from, to Copier, batch int, progress func(Counts)) (Counts, error) {
	copied := Counts{}
	var writeErr error
	err := from.Export(ctx, batch, func(r Records) error {
		if writeErr = to.Restore(ctx, r); writeErr != nil {
			return writeErr
		}
		n := r.Counts()
		for k, v := range n {
			copied[k] += v
		}
		if progress != nil {
			progress(n)
		}
		return nil
	})
	switch {
	case writeErr != nil:
		return copied, fmt.Errorf("write the copy: %w", writeErr)
	case err != nil:
		return copied, fmt.Errorf("read the store: %w", err)
	}
	return copied, nil
}

// TreeOrder returns units with each after its parent, roots first and
// siblings in id order. Units whose parent is not among them, or that
// are in a cycle (neither is stored by a backend that keeps the tree),
// come last, in id order, for the writer to refuse.
func TreeOrder(units []OrgUnit) []OrgUnit {
	ids := make(map[string]bool, len(units))
	children := make(map[string][]OrgUnit, len(units))
	for _, u := range units {
		ids[u.ID] = true
	}
	var out, rest []OrgUnit
	for _, u := range units {
		if u.ParentID == "" || ids[u.ParentID] {
			children[u.ParentID] = append(children[u.ParentID], u)
		}
	}
	byID := func(a, b OrgUnit) int { return strings.Compare(a.ID, b.ID) }
	placed := make(map[string]bool, len(units))
	queue := []string{""}
	for len(queue) > 0 {
		parent := queue[0]
		queue = queue[1:]
		kids := children[parent]
		slices.SortFunc(kids, byID)
		for _, u := range kids {
			if !placed[u.ID] {
				placed[u.ID] = true
				out = append(out, u)
				queue = append(queue, u.ID)
			}
		}
	}
	for _, u := range units {
		if !placed[u.ID] {
			rest = append(rest, u)
		}
	}
	slices.SortFunc(rest, byID)
	return append(out, rest...)
}
