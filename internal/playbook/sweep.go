package playbook

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/incident"
)

// Backlog lists what the Sweep timer may pick up. ledger.Store implements
// it.
type Backlog interface {
	// Parked lists parked incidents due for a re-drive at now.
	Parked(ctx context.Context) ([]*incident.Incident, error)
	// Open lists incidents in state open.
	Open(ctx context.Context) ([]*incident.Incident, error)
}

// Sweep re-drives, for the timer function, the parked incidents that are
// due (a failed step, an undelivered notification) and the open ones whose
// run was abandoned (a process that died, a claim whose answer was lost).
// Held and needsHuman incidents wait for a person and are never picked up.
func (r *Responder) Sweep(ctx context.Context, b Backlog, log *zap.Logger) (string, error) {
	if log == nil {
		log = r.log
	}
	now := r.now()
	due, err := b.Parked(ctx)
	if err != nil {
		return "", fmt.Errorf("list parked incidents: %w", err)
	}
	open, err := b.Open(ctx)
	if err != nil {
		return "", fmt.Errorf("list open incidents: %w", err)
	}
	var run []string
	for _, in := range due {
		run = append(run, in.ID)
	}
	for _, in := range open {
		// An open incident nobody holds for longer than a run may take, or
		// whose holder's lease ran out, was abandoned. Age is judged by
		// Created: duplicates and proof bump Updated and would hide it.
		if in.Owner == "" && now.Sub(in.Created) > r.cfg.StageDeadline || in.Owner != "" && now.After(in.LeaseUntil) {
			run = append(run, in.ID)
		}
	}
	states := map[incident.State]int{}
	for _, id := range run {
		in, err := r.Run(ctx, id, log)
		if errors.Is(err, ErrInProgress) {
			states["in progress elsewhere"]++
			continue
		}
		if err != nil {
			log.Error("re-drive", zap.String("incident", id), zap.Error(err))
			states["failed"]++
			continue
		}
		states[in.State]++
	}
	return fmt.Sprintf("re-drove %d incident(s): %d done, %d parked, %d held, %d need a human, %d in progress elsewhere, %d failed to run",
		len(run), states[incident.StateDone], states[incident.StateParked], states[incident.StateHeld], states[incident.StateNeedsHuman],
		states["in progress elsewhere"], states["failed"]), nil
}
