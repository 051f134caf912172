package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/incident"
)

// Channel names, stored in incident.Notification.Channel.
const (
	ChannelTeams = "teams"
	ChannelEmail = "email"
	ChannelPage  = "page"
)

// Channel is one way of telling people: the Teams webhook, email, the
// pager. The teams, email and pager subpackages implement it.
type Channel interface {
	// Name is the channel's name on the incident ("teams", "email", "page").
	Name() string
	// Targets lists where this channel would deliver for the delivery. It
	// must be pure: the Notifier compares the ids with the incident's
	// record to skip targets already sent.
	Targets(d *Delivery) []Target
	// Send makes one attempt to deliver to one target. It classifies its
	// failure (Permanent, ThrottledError) and must never return an error
	// that carries a secret.
	Send(ctx context.Context, d *Delivery, t Target) error
}

// Target is one place a channel delivers to.
type Target struct {
	// ID is stable and never secret: it is stored on the incident and is
	// the dedup key with the channel name ("webhook:default",
	// "alexw@contoso.com", "oncall:breakerTripped").
	ID string
}

// Delivery is what the channels deliver: the incident, read-only while the
// channels run (they run concurrently), and the pages the Notifier decided.
type Delivery struct {
	Incident *incident.Incident
	Pages    []Page
}

// Config configures the Notifier.
type Config struct {
	Recipients RecipientConfig
	// Deadline bounds one Notify call, lookups and every retry included.
	// Default 2 minutes.
	Deadline time.Duration
	// AttemptTimeout bounds one attempt (one HTTP request). Default 20s.
	AttemptTimeout time.Duration
	// MaxAttempts per target. Default 6.
	MaxAttempts int
	// InitialBackoff doubles after each failed attempt up to MaxBackoff,
	// unless the far end says when to retry. Defaults 1s and 30s.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
}

func (c *Config) defaults() {
	if c.Deadline <= 0 {
		c.Deadline = 2 * time.Minute
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = 20 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 6
	}
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
}

// Notifier resolves recipients and delivers an incident on every channel.
type Notifier struct {
	cfg      Config
	owners   Owners
	channels []Channel
	log      *zap.Logger
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
}

// Option customises a Notifier; tests use them to control time.
type Option func(*Notifier)

// WithClock sets the clock used for records, Retry-After dates and the
// deadline arithmetic of the retry loop.
func WithClock(now func() time.Time) Option { return func(n *Notifier) { n.now = now } }

// WithSleep sets how the retry loop waits; it must return early with the
// context's error when the context ends.
func WithSleep(sleep func(context.Context, time.Duration) error) Option {
	return func(n *Notifier) { n.sleep = sleep }
}

// New returns a Notifier. owners may be nil, which sends to overrides and
// the fallback only (local runs without a directory).
func New(cfg Config, owners Owners, channels []Channel, logger *zap.Logger, opts ...Option) (*Notifier, error) {
	cfg.defaults()
	if err := cfg.Recipients.Validate(); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, ch := range channels {
		if ch == nil {
			return nil, errors.New("notify: nil channel")
		}
		if seen[ch.Name()] {
			return nil, fmt.Errorf("notify: channel %q configured twice", ch.Name())
		}
		seen[ch.Name()] = true
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	n := &Notifier{cfg: cfg, owners: owners, channels: channels, log: logger, now: time.Now, sleep: sleepCtx}
	for _, o := range opts {
		o(n)
	}
	return n, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// result is one target's outcome, collected from the channel goroutines.
type result struct {
	channel, target string
	attempts        int
	err             error
}

// Notify resolves the incident's recipients and delivers it on every
// channel, recording each target's outcome on the incident (Notified, the
// notify step, the history). Targets already recorded as sent are skipped,
// so calling it again for a replayed or re-driven incident sends only what
// failed or is new. It returns an error joining the failed targets; the
// caller saves the incident either way.
//
// It runs under its own deadline (Config.Deadline) and is meant to be called
// after contain and confirm have been recorded: nothing waits on it.
func (n *Notifier) Notify(ctx context.Context, in *incident.Incident) error {
	start := n.now()
	deadline := start.Add(n.cfg.Deadline)
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Deadline)
	defer cancel()
	log := n.log.With(zap.String("incident", in.ID), zap.String("app_id", in.App.AppID),
		zap.String("sp_id", in.App.ServicePrincipalID), zap.String("step", string(incident.StepNotify)))

	step := in.Step(incident.StepNotify)
	if step.Started.IsZero() {
		step.Started = start
	}
	step.Attempts++

	var res Resolution
	if SecurityOnly(in) {
		// Owners are not even looked up: nothing an unverified event names
		// decides who hears of it.
		res = ResolveSecurityOnly(n.cfg.Recipients, securityOnlyReason(in))
		log.Info("not verified by Graph: telling security and on-call only")
	} else {
		lookup := n.lookupOwners(ctx, deadline, log, in.App)
		res = Resolve(n.cfg.Recipients, in.App, lookup)
	}
	in.Recipients, in.Orphaned = res.Recipients, res.Orphaned
	reachable := len(res.Reachable())
	in.Record(n.now(), string(incident.StepNotify), "recipients resolved",
		fmt.Sprintf("%d reachable, %d not reachable, orphaned=%t", reachable, len(res.Recipients)-reachable, res.Orphaned))
	if res.Orphaned {
		log.Info("app has no reachable owner: telling the security fallback only")
	}

	d := &Delivery{Incident: in, Pages: Pages(in, res.LookupErrors)}
	results := make([][]result, len(n.channels))
	var wg sync.WaitGroup
	for i, ch := range n.channels {
		// Channels run concurrently so that a throttled webhook cannot use
		// up the deadline of the email; each goroutine only reads the
		// incident and writes its own slot of results.
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = n.deliver(ctx, deadline, log, d, ch)
		}()
	}
	wg.Wait()

	var errs []error
	sent, failed, skipped := 0, 0, 0
	for _, rs := range results {
		for _, r := range rs {
			if r.attempts == 0 && r.err == nil {
				skipped++
				continue
			}
			rec := incident.Notification{Channel: r.channel, Target: r.target, State: incident.Done, Attempts: r.attempts, At: n.now()}
			if prev := in.Notification(r.channel, r.target); prev != nil {
				rec.Attempts += prev.Attempts
			}
			if r.err != nil {
				failed++
				rec.State, rec.Reason = incident.Failed, clean(r.err.Error(), 500)
				errs = append(errs, fmt.Errorf("%s %s: %w", r.channel, r.target, r.err))
			} else {
				sent++
			}
			if prev := in.Notification(r.channel, r.target); prev != nil {
				*prev = rec
			} else {
				in.Notified = append(in.Notified, rec)
			}
		}
	}

	end := n.now()
	detail := fmt.Sprintf("%d sent, %d failed, %d already sent before", sent, failed, skipped)
	in.Record(end, string(incident.StepNotify), "delivered", detail)
	step.Finished = end
	if len(errs) > 0 {
		step.State = incident.Failed
		step.Reason = clean(errors.Join(errs...).Error(), 500)
		log.Warn("notification incomplete", zap.Int("sent", sent), zap.Int("failed", failed), zap.Int("skipped", skipped))
		return fmt.Errorf("notify incident %s: %w", in.ID, errors.Join(errs...))
	}
	step.State, step.Reason = incident.Done, detail
	log.Info("notified", zap.Int("sent", sent), zap.Int("skipped", skipped))
	return nil
}

func securityOnlyReason(in *incident.Incident) string {
	if in.Verification.Closed != "" {
		return "security team: the detection is already closed in Graph"
	}
	return "security team: Graph did not verify this signal, so only security and on-call are told"
}

// errTargetURL refuses a target whose id is a URL.
var errTargetURL = errors.New("the channel names this target by its URL: refused, since target ids are stored and logged; name it like webhook:default")

// safeTargetID returns the id itself, or RedactURL of it when the id is a
// URL (a secret for a webhook).
func safeTargetID(id string) string {
	if strings.Contains(id, "://") {
		return RedactURL(id)
	}
	return id
}

// deliver sends one channel's targets in order, skipping those already sent.
func (n *Notifier) deliver(ctx context.Context, deadline time.Time, log *zap.Logger, d *Delivery, ch Channel) []result {
	var out []result
	seen := map[string]bool{}
	for _, t := range ch.Targets(d) {
		if safe := safeTargetID(t.ID); safe != t.ID {
			// The id goes to the ledger, the log and the error: a URL there
			// is a secret kept forever. Refuse the target, loudly.
			log.Error("channel names a target by its URL: not sent", zap.String("channel", ch.Name()), zap.String("target", safe))
			out = append(out, result{channel: ch.Name(), target: safe, err: Permanent(errTargetURL)})
			continue
		}
		if seen[t.ID] {
			continue
		}
		seen[t.ID] = true
		tlog := log.With(zap.String("channel", ch.Name()), zap.String("target", t.ID))
		if prev := d.Incident.Notification(ch.Name(), t.ID); prev != nil && prev.State == incident.Done {
			tlog.Debug("already sent, not sending again")
			out = append(out, result{channel: ch.Name(), target: t.ID})
			continue
		}
		attempts, err := n.retry(ctx, deadline, tlog, func(ctx context.Context) error { return ch.Send(ctx, d, t) })
		if err == nil {
			tlog.Info("sent", zap.Int("attempts", attempts))
		}
		out = append(out, result{channel: ch.Name(), target: t.ID, attempts: attempts, err: err})
	}
	return out
}

// lookupOwners reads both owner lists, each with retries.
func (n *Notifier) lookupOwners(ctx context.Context, deadline time.Time, log *zap.Logger, app incident.App) OwnerLookup {
	var l OwnerLookup
	if n.owners == nil {
		return l
	}
	if app.AppID != "" {
		_, l.ApplicationErr = n.retry(ctx, deadline, log.With(zap.String("lookup", "applicationOwners")), func(ctx context.Context) error {
			var err error
			l.Application, err = n.owners.ApplicationOwners(ctx, app.AppID)
			return err
		})
	}
	if app.ServicePrincipalID != "" {
		_, l.ServicePrincipalErr = n.retry(ctx, deadline, log.With(zap.String("lookup", "servicePrincipalOwners")), func(ctx context.Context) error {
			var err error
			l.ServicePrincipal, err = n.owners.ServicePrincipalOwners(ctx, app.ServicePrincipalID)
			return err
		})
	}
	return l
}

// retry runs op until it succeeds, fails permanently, runs out of attempts,
// or the next wait would pass the deadline. It waits what the far end asked
// for (Retry-After) or an exponential backoff, logs only when the error
// changes, and puts the attempt count in the final error.
func (n *Notifier) retry(ctx context.Context, deadline time.Time, log *zap.Logger, op func(context.Context) error) (int, error) {
	backoff := n.cfg.InitialBackoff
	last := ""
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, n.cfg.AttemptTimeout)
		err := op(actx)
		cancel()
		if err == nil {
			return attempt, nil
		}
		if msg := err.Error(); msg != last {
			log.Warn("attempt failed", zap.Int("attempt", attempt), zap.Error(err))
			last = msg
		}
		switch {
		case IsPermanent(err):
			return attempt, fmt.Errorf("failed permanently after %d %s: %w", attempt, plural(attempt, "attempt", "attempts"), err)
		case attempt >= n.cfg.MaxAttempts:
			return attempt, fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		case ctx.Err() != nil:
			return attempt, fmt.Errorf("notify deadline reached after %d %s: %w", attempt, plural(attempt, "attempt", "attempts"), err)
		}
		wait := backoff
		if after, ok := RetryAfter(err); ok {
			wait = after
		}
		backoff = min(backoff*2, n.cfg.MaxBackoff)
		if n.now().Add(wait).After(deadline) {
			return attempt, fmt.Errorf("gave up after %d %s: the next try (in %s) would pass the notify deadline: %w",
				attempt, plural(attempt, "attempt", "attempts"), wait.Round(time.Millisecond), err)
		}
		if serr := n.sleep(ctx, wait); serr != nil {
			return attempt, fmt.Errorf("notify deadline reached after %d %s: %w", attempt, plural(attempt, "attempt", "attempts"), err)
		}
	}
}
