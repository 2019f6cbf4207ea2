package storage

import (
	"context"
	"errors"
	"fmt"
)

// maxDepth bounds a walk up the org-unit tree: the tree is shallow, and
// the bound stops a cycle.
const maxDepth = 64

// OrgUnitChain returns the org unit id and its ancestors, nearest first.
// A missing unit ends the chain.
func OrgUnitChain(ctx context.Context, s OrgUnits, id string) ([]OrgUnit, error) {
	var chain []OrgUnit
	for id != "" && len(chain) < maxDepth {
		ou, err := s.GetOrgUnit(ctx, id)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("get org unit: %w", err)
		}
		chain = append(chain, ou)
		id = ou.ParentID
	}
	return chain, nil
}
