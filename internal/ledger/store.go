package ledger

import (
	"context"
	"fmt"
	"strings"

	"github.com/spresponder/spresponder/internal/incident"
)

// Store adapts a ledger to what the playbook asks of its store.
type Store struct{ L Incidents }

// Claim implements the playbook's Store.
func (s Store) Claim(ctx context.Context, in *incident.Incident) (*incident.Incident, bool, error) {
	return s.L.Claim(ctx, in)
}

// Mutate implements the playbook's Store.
func (s Store) Mutate(ctx context.Context, id string, fn func(*incident.Incident) error) (*incident.Incident, error) {
	return Mutate(ctx, s.L, id, fn)
}

// ByServicePrincipal lists the incidents of one service principal. It
// scans the list (blocked sign-ins, its only caller, are rare); a backend
// with an index would answer it directly.
func (s Store) ByServicePrincipal(ctx context.Context, spID string) ([]*incident.Incident, error) {
	all, err := s.L.List(ctx, Filter{})
	if err != nil {
		return nil, fmt.Errorf("ledger: incidents of %s: %w", spID, err)
	}
	var out []*incident.Incident
	for _, in := range all {
		if strings.EqualFold(in.Key.ServicePrincipalID, spID) || strings.EqualFold(in.App.ServicePrincipalID, spID) {
			out = append(out, in)
		}
	}
	return out, nil
}
