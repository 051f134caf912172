package playbook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/incident"
)

// Outcome summarises what Respond did with a batch.
type Outcome struct {
	Claimed    []string // incident ids newly created
	Duplicates []string // incident ids that already existed
	Proof      int      // blocked sign-ins attached as proof
	Use        int      // sign-ins with a watched key attached as use
	Ignored    int      // signals no rule acts on
	Incidents  []*incident.Incident
}

// Handle is the playbook's one entry for signals: it claims an incident
// for every actionable signal (durably: an error means the batch must be
// retried), attaches blocked sign-ins as proof, and then runs the
// incidents' stages. A self-test signal (`spresponder selftest`) is only
// marked in the store: no incident, no Graph call, no write, no notice. A stage that fails parks its incident for the timer;
// that is not an error of Handle. Run takes one stored incident (the Sweep,
// a redrive); Sweep is the timer's.
func (r *Responder) Handle(ctx context.Context, sigs []detect.Signal, log *zap.Logger) (Outcome, error) {
	if log == nil {
		log = r.log
	}
	var out Outcome
	var toRun []string
	// Incidents about a credential come first, so that the other signals
	// of the same batch can join them: a risky-service-principal state
	// change caused by the same leak is evidence for that incident, not a
	// second incident (and a second round of emails); a blocked sign-in is
	// proof that its block works.
	bySP := map[string]string{}
	var later []detect.Signal
	// claimInto claims s and books it in the outcome and the run list; it
	// returns "" for a signal no rule acts on.
	claimInto := func(s detect.Signal) (string, error) {
		id, created, ok, err := r.claim(ctx, s)
		if err != nil || !ok {
			if !ok && err == nil {
				out.Ignored++
			}
			return "", err
		}
		if created {
			out.Claimed = append(out.Claimed, id)
		} else {
			out.Duplicates = append(out.Duplicates, id)
		}
		if !slices.Contains(toRun, id) {
			toRun = append(toRun, id)
		}
		return id, nil
	}
	for _, s := range sigs {
		switch s.Kind {
		case detect.BlockedSignIn, detect.RiskyServicePrincipal, detect.KeySignIn:
			later = append(later, s)
			continue
		case detect.SelfTest:
			// A redelivered self-test is a duplicate, not an error; a
			// ledger failure fails the batch, as for any signal.
			first, err := r.store.MarkSelfTest(ctx, s.DetectionID, r.now())
			if err != nil {
				return out, err
			}
			log.Info("self-test event received: recorded, never acted on", zap.String("detection_id", s.DetectionID), zap.Bool("first_delivery", first))
			continue
		}
		id, err := claimInto(s)
		if err != nil {
			return out, err
		}
		if id != "" {
			bySP[strings.ToLower(s.ServicePrincipalID)] = id
		}
	}
	proofCache := map[string][]*incident.Incident{}
	useCache := map[string][]*incident.Incident{}
	for _, s := range later {
		if s.Kind == detect.KeySignIn {
			// Evidence too: it never holds back containment.
			n, err := r.attachUse(ctx, s, useCache, log)
			if err != nil {
				log.Warn("could not attach a sign-in with a watched key", zap.String("sign_in", s.DetectionID), zap.Error(err))
			}
			out.Use += n
			continue
		}
		if s.Kind == detect.BlockedSignIn {
			// Proof is evidence, not work: failing to attach it must not
			// hold back the batch's containment.
			n, err := r.attachProof(ctx, s, proofCache)
			if err != nil {
				log.Warn("could not attach a blocked sign-in as proof", zap.String("sign_in", s.DetectionID), zap.Error(err))
			}
			out.Proof += n
			continue
		}
		id, ok := bySP[strings.ToLower(s.ServicePrincipalID)]
		if !ok && s.Source.Via == detect.ViaReconcile {
			// The stream folds a risk-state change into the credential
			// incident of the same batch, so no incident has its key; the
			// same state found by reconcile belongs to that incident too.
			var err error
			if id, ok, err = r.stateRecordedOn(ctx, s); err != nil {
				return out, err
			}
		}
		if ok {
			if _, err := r.store.Mutate(ctx, id, func(cur *incident.Incident) error {
				mergeSignal(cur, s, r.now())
				return nil
			}); err != nil {
				return out, fmt.Errorf("record %s signal on %s: %w", s.Kind, id, err)
			}
			out.Duplicates = append(out.Duplicates, id)
			continue
		}
		if _, err := claimInto(s); err != nil {
			return out, err
		}
	}
	// Everything is durable now; the stages run concurrently, each within
	// its own deadline, and park what they cannot finish.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, id := range toRun {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in, err := r.Run(ctx, id, log)
			if err != nil && !errors.Is(err, ErrInProgress) {
				log.Error("incident run", zap.String("incident", id), zap.Error(err))
			}
			if in != nil {
				mu.Lock()
				out.Incidents = append(out.Incidents, in)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(out.Incidents, func(a, b *incident.Incident) int { return strings.Compare(a.ID, b.ID) })
	if r.watch != nil {
		r.watch.Add(out.Incidents...)
	}
	return out, nil
}

// claim opens (or finds) the incident for a signal a rule acts on. ok is
// false when no rule does.
func (r *Responder) claim(ctx context.Context, s detect.Signal) (id string, created, ok bool, err error) {
	plan, ok := r.rules.Plan(s)
	if !ok {
		return "", false, false, nil
	}
	in := incident.New(s, r.now())
	in.Operator = r.cfg.Operator
	in.Record(r.now(), "claim", "rule", plan.Rule)
	stored, created, err := r.store.Claim(ctx, in)
	if err != nil {
		return "", false, false, fmt.Errorf("claim incident for %s signal of %s: %w", s.Kind, s.AppID, err)
	}
	if !created && !hasSignal(stored, s) {
		if _, err := r.store.Mutate(ctx, stored.ID, func(cur *incident.Incident) error {
			mergeSignal(cur, s, r.now())
			return nil
		}); err != nil {
			return "", false, false, fmt.Errorf("record duplicate signal on %s: %w", stored.ID, err)
		}
	}
	return stored.ID, created, true, nil
}

// hasSignal reports whether the incident already records this signal (the
// same kind from the same position): a redelivered event changes nothing.
func hasSignal(in *incident.Incident, s detect.Signal) bool {
	return slices.ContainsFunc(in.Signals, func(old detect.Signal) bool { return old.Source == s.Source && old.Kind == s.Kind })
}

// mergeSignal records a duplicate signal on an existing incident, once per
// source position.
func mergeSignal(in *incident.Incident, s detect.Signal, now time.Time) {
	if hasSignal(in, s) {
		return
	}
	in.Signals = append(in.Signals, s)
	if s.Source.Via == detect.ViaReconcile {
		in.Record(now, "claim", "duplicate", fmt.Sprintf("%s found by reconcile in Graph's list of changes", s.Kind))
	} else {
		in.Record(now, "claim", "duplicate", fmt.Sprintf("%s from partition %s seq %d", s.Kind, s.Source.Partition, s.Source.SequenceNumber))
	}
	in.NoteSecondPath(s, now)
}

// attachProof adds a blocked sign-in to the incidents of its service
// principal: Conditional Access seen working.
func (r *Responder) attachProof(ctx context.Context, s detect.Signal, cache map[string][]*incident.Incident) (int, error) {
	sp := strings.ToLower(s.ServicePrincipalID)
	ins, ok := cache[sp]
	if !ok {
		var err error
		ins, err = r.store.ByServicePrincipal(ctx, sp)
		if err != nil {
			return 0, err
		}
		cache[sp] = ins
	}
	n := 0
	for _, in := range ins {
		if in.State == incident.StateResolved {
			continue
		}
		ref := incident.SignInRef{ID: s.DetectionID, Time: s.Time, IPAddress: s.IPAddress, Location: s.Location, PolicyIDs: s.PolicyIDs, ErrorCode: s.ErrorCode}
		_, err := r.store.Mutate(ctx, in.ID, func(cur *incident.Incident) error {
			if cur.Verdict == nil {
				cur.Verdict = &incident.Verdict{Outcome: incident.VerdictCannotEvaluate,
					Summary: "Conditional Access has not been evaluated for this incident yet; the refused sign-ins below show a block at work."}
			}
			for _, p := range cur.Verdict.Proof {
				if p.ID == ref.ID {
					return nil
				}
			}
			cur.Verdict.Proof = append(cur.Verdict.Proof, ref)
			cur.Record(r.now(), string(incident.StepConfirm), "blocked sign-in seen",
				fmt.Sprintf("sign-in %s from %s refused by Conditional Access (error %d, policies %s)", ref.ID, ref.IPAddress, ref.ErrorCode, strings.Join(ref.PolicyIDs, ", ")))
			return nil
		})
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// stateRecordedOn finds an incident of the signal's service principal that
// already records the same risk state (a RiskyServicePrincipal signal with
// the same RiskState, atRisk say), from whichever path.
func (r *Responder) stateRecordedOn(ctx context.Context, s detect.Signal) (string, bool, error) {
	ins, err := r.store.ByServicePrincipal(ctx, strings.ToLower(s.ServicePrincipalID))
	if err != nil {
		return "", false, fmt.Errorf("look up incidents of %s: %w", s.ServicePrincipalID, err)
	}
	for _, in := range ins {
		if slices.ContainsFunc(in.Signals, func(old detect.Signal) bool {
			return old.Kind == detect.RiskyServicePrincipal && strings.EqualFold(old.RiskState, s.RiskState)
		}) {
			return in.ID, true, nil
		}
	}
	return "", false, nil
}
