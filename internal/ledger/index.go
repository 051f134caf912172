package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/spresponder/spresponder/internal/ids"
	"github.com/spresponder/spresponder/internal/incident"
)

// The service-principal index: one marker per (service principal, incident)
// under its own prefix, written with the claim, so finding a service
// principal's incidents (done for every batch that holds a blocked
// sign-in, and blocked sign-ins are frequent once a policy blocks an app
// that keeps retrying) costs one listing of its few markers, not a read of
// the whole ledger. A marker without its incident (a claim that failed
// after the marker) is skipped when read.
const indexPrefix = "bysp/"

// indexedSP is the service principal an incident is filed under, or ""
// when it has none.
func indexedSP(in *incident.Incident) string {
	sp := strings.ToLower(in.Key.ServicePrincipalID)
	if sp == "" || !ids.IsGUID(sp) {
		return ""
	}
	return sp
}

// spIndex is a backend that answers ByServicePrincipal from its index.
type spIndex interface {
	byServicePrincipal(ctx context.Context, spID string) ([]string, error)
}

// readAll reads incidents by id, at most 8 at a time, skipping ids whose
// incident does not exist.
func readAll(ctx context.Context, l Incidents, idList []string) ([]*incident.Incident, error) {
	out := make([]*incident.Incident, len(idList))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, id := range idList {
		g.Go(func() error {
			in, err := l.Get(gctx, id)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			out[i] = in
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	kept := out[:0]
	for _, in := range out {
		if in != nil {
			kept = append(kept, in)
		}
	}
	sortIncidents(kept)
	return kept, nil
}

// ByServicePrincipal lists the incidents of one service principal: from
// the backend's index when it has one, else by scanning the list.
func (s Store) ByServicePrincipal(ctx context.Context, spID string) ([]*incident.Incident, error) {
	spID = strings.ToLower(spID)
	if ix, ok := s.L.(spIndex); ok && ids.IsGUID(spID) {
		idList, err := ix.byServicePrincipal(ctx, spID)
		if err != nil {
			return nil, fmt.Errorf("ledger: incidents of %s: %w", spID, err)
		}
		idList = slices.DeleteFunc(idList, legacyControlID)
		ins, err := readAll(ctx, s.L, idList)
		if err != nil {
			return nil, fmt.Errorf("ledger: incidents of %s: %w", spID, err)
		}
		return ins, nil
	}
	return scanByServicePrincipal(ctx, s.L, spID)
}

// scanByServicePrincipal is the way without an index: read every incident.
func scanByServicePrincipal(ctx context.Context, l Incidents, spID string) ([]*incident.Incident, error) {
	all, err := l.List(ctx, Filter{})
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
