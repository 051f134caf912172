package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/redact"
	"github.com/spresponder/spresponder/internal/retry"
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
	// failure (Permanent, directory.ThrottledError) and must never return an error
	// that carries a secret.
	Send(ctx context.Context, d *Delivery, t Target) error
}

// Target is one place a channel delivers to.
type Target struct {
	// ID is stable and never secret: it is stored on the incident and is
	// the dedup key with the channel name ("webhook:default",
	// "alexw@contoso.com", "oncall:breakerTripped").
	ID string
	// Links are this target's action links, set by the Notifier for a
	// LinkedChannel when it has Actions (empty otherwise, or when they
	// could not be had). They are bound to this reader and never stored.
	Links ActionLinks
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
	// Deadline bounds one Notify call, lookups and every retry included;
	// the caller's context deadline bounds it too, whichever comes first
	// (the playbook gives notification a few seconds, so that a webhook
	// that is down cannot hold the Event Hubs invocation). Default 2 minutes.
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
	actions  Actions
	// linkFailures counts targets sent without their action links.
	linkFailures atomic.Int64
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
	n := &Notifier{cfg: cfg, owners: owners, channels: channels, log: logger, now: time.Now, sleep: retry.Sleep}
	for _, o := range opts {
		o(n)
	}
	return n, nil
}

// ErrUndelivered is wrapped by the error Notify returns when at least one
// target was not delivered: it failed, or the deadline came first. The
// outcome of every target is on the incident either way (Notified); a later
// Notify sends only what is not recorded as delivered.
var ErrUndelivered = errors.New("not every notification was delivered")

// ErrDeadline is wrapped, with ErrUndelivered, when a target was not done
// by the deadline (the caller's context or Config.Deadline). It is not a
// failure of the target: it is recorded pending, with this text as its
// reason, and the next sweep tries again.
var ErrDeadline = errors.New("deadline; will retry on the next sweep")

// result is one target's outcome, collected from the channel goroutines.
type result struct {
	channel, target string
	attempts        int
	err             error
	// linksErr says why the message went without its action links.
	linksErr string
}

func (r result) key() string { return r.channel + "\x00" + r.target }

// maxGrace bounds the time between the end of sending and the deadline:
// channels that honour their context report in it, so that a delivery made
// at the last moment is recorded as made.
const maxGrace = 250 * time.Millisecond

// Notify resolves the incident's recipients and delivers it on every
// channel, recording each target's outcome on the incident (Notified, the
// notify step, the history). Targets already recorded as sent are skipped,
// so calling it again for a replayed or re-driven incident sends only what
// failed, was cut by the deadline, or is new.
//
// It returns by the earlier of the context's deadline and Config.Deadline,
// whatever the channels do: no retry or Retry-After wait outlives it, and a
// channel still busy at the deadline is abandoned (it works on a copy of
// the incident, so the caller may save and change the incident at once).
// A target not delivered by then is recorded pending with the reason
// "deadline; will retry on the next sweep".
//
// The error is nil only when every target was delivered (or had been
// before). Otherwise it wraps ErrUndelivered, and ErrDeadline too when the
// deadline cut a delivery; the caller saves the incident either way.
func (n *Notifier) Notify(ctx context.Context, in *incident.Incident) error {
	start := n.now()
	budget := n.cfg.Deadline
	if dl, ok := ctx.Deadline(); ok {
		// A context deadline is wall-clock time; the retry loop reasons on
		// the injected clock, so the caller's deadline enters it as the
		// time that is left.
		budget = min(budget, time.Until(dl))
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	grace := min(budget/10, maxGrace)
	sendCtx, sendCancel := context.WithTimeout(ctx, budget-grace)
	defer sendCancel()
	deadline := start.Add(budget - grace)
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
		// The lookups get half the time at most: the security fallback
		// must still be told when the directory is slow.
		half := (budget - grace) / 2
		lctx, lcancel := context.WithTimeout(sendCtx, half)
		lookup := n.lookupOwners(lctx, start.Add(half), log, in.App)
		lcancel()
		res = Resolve(n.cfg.Recipients, in.App, lookup)
		if in.OwnersOnly {
			res = ownersOnly(res)
		}
	}
	in.Recipients, in.Orphaned = res.Recipients, res.Orphaned
	reachable := len(res.Reachable())
	in.Record(n.now(), string(incident.StepNotify), "recipients resolved",
		fmt.Sprintf("%d reachable, %d not reachable, orphaned=%t", reachable, len(res.Recipients)-reachable, res.Orphaned))
	if res.Orphaned {
		log.Info("app has no reachable owner: telling the security fallback only")
	}

	snap, err := snapshot(in)
	if err != nil {
		return fmt.Errorf("notify incident %s: %w: %w", in.ID, ErrUndelivered, err)
	}
	d := &Delivery{Incident: snap, Pages: Pages(in, res.LookupErrors)}

	// Plan on the incident itself, then send from the copy.
	type job struct {
		ch      Channel
		targets []Target
	}
	var (
		jobs    []job
		planned []result // every target to send, in channel order
		done    []result // refused targets, recorded without sending
		skipped int
	)
	for _, ch := range n.channels {
		j := job{ch: ch}
		seen := map[string]bool{}
		for _, t := range ch.Targets(d) {
			if safe := safeTargetID(t.ID); safe != t.ID {
				// The id goes to the ledger, the log and the error: a URL
				// there is a secret kept forever. Refuse the target, loudly.
				log.Error("channel names a target by its URL: not sent", zap.String("channel", ch.Name()), zap.String("target", safe))
				done = append(done, result{channel: ch.Name(), target: safe, err: Permanent(errTargetURL)})
				continue
			}
			if seen[t.ID] {
				continue
			}
			seen[t.ID] = true
			if prev := in.Notification(ch.Name(), t.ID); prev != nil && prev.State == incident.Done {
				log.Debug("already sent, not sending again", zap.String("channel", ch.Name()), zap.String("target", t.ID))
				skipped++
				continue
			}
			j.targets = append(j.targets, t)
			planned = append(planned, result{channel: ch.Name(), target: t.ID})
		}
		if len(j.targets) > 0 {
			jobs = append(jobs, j)
		}
	}

	// Channels run concurrently so that a throttled webhook cannot use up
	// the deadline of the email. The buffer holds every result, so a
	// goroutine that finishes after Notify returned never blocks.
	results := make(chan result, len(planned))
	for _, j := range jobs {
		go func() {
			for _, t := range j.targets {
				results <- n.deliver(sendCtx, deadline, log, d, j.ch, t)
			}
		}()
	}
	got := make(map[string]result, len(planned))
collect:
	for len(got) < len(planned) {
		select {
		case r := <-results:
			got[r.key()] = r
		case <-ctx.Done():
			break collect
		}
	}
	// Whatever arrived together with the deadline still counts.
	for drained := false; !drained; {
		select {
		case r := <-results:
			got[r.key()] = r
		default:
			drained = true
		}
	}

	var errs []error
	sent, failed, pending := 0, 0, 0
	now := n.now()
	for _, p := range planned {
		r, ok := got[p.key()]
		if !ok {
			r = p
			r.err = fmt.Errorf("%w: no answer from the channel by the deadline", ErrDeadline)
			log.Warn("abandoned at the deadline", zap.String("channel", p.channel), zap.String("target", p.target))
		}
		done = append(done, r)
	}
	for _, r := range done {
		if r.linksErr != "" {
			in.Record(now, string(incident.StepNotify), "sent without action links", r.channel+" "+r.target+": "+r.linksErr)
		}
		rec := incident.Notification{Channel: r.channel, Target: r.target, State: incident.Done, Attempts: r.attempts, At: now}
		prev := in.Notification(r.channel, r.target)
		if prev != nil {
			rec.Attempts += prev.Attempts
		}
		switch {
		case r.err == nil:
			sent++
		case errors.Is(r.err, ErrDeadline):
			pending++
			rec.State, rec.Reason = incident.Pending, clean(r.err.Error(), 500)
			errs = append(errs, fmt.Errorf("%s %s: %w", r.channel, r.target, r.err))
		default:
			failed++
			rec.State, rec.Reason = incident.Failed, clean(r.err.Error(), 500)
			errs = append(errs, fmt.Errorf("%s %s: %w", r.channel, r.target, r.err))
		}
		if prev != nil {
			*prev = rec
		} else {
			in.Notified = append(in.Notified, rec)
		}
	}

	end := n.now()
	detail := fmt.Sprintf("%d sent, %d failed, %d already sent before", sent, failed, skipped)
	if pending > 0 {
		detail = fmt.Sprintf("%d sent, %d failed, %d pending (%s), %d already sent before", sent, failed, pending, ErrDeadline, skipped)
	}
	in.Record(end, string(incident.StepNotify), "delivered", detail)
	step.Finished = end
	if len(errs) > 0 {
		step.State = incident.Failed
		if failed == 0 {
			step.State = incident.Pending
		}
		step.Reason = clean(errors.Join(errs...).Error(), 500)
		log.Warn("notification incomplete", zap.Int("sent", sent), zap.Int("failed", failed), zap.Int("pending", pending), zap.Int("skipped", skipped))
		return fmt.Errorf("notify incident %s: %w: %w", in.ID, ErrUndelivered, errors.Join(errs...))
	}
	step.State, step.Reason = incident.Done, detail
	log.Info("notified", zap.Int("sent", sent), zap.Int("skipped", skipped))
	return nil
}

// snapshot is a deep copy of the incident for the channels, which may still
// be reading it after Notify returned (a channel that ignores its context).
func snapshot(in *incident.Incident) (*incident.Incident, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("copy incident: %w", err)
	}
	var out incident.Incident
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("copy incident: %w", err)
	}
	return &out, nil
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

// deliver sends to one target with retries.
func (n *Notifier) deliver(ctx context.Context, deadline time.Time, log *zap.Logger, d *Delivery, ch Channel, t Target) result {
	tlog := log.With(zap.String("channel", ch.Name()), zap.String("target", t.ID))
	var linksErr string
	if lc, ok := ch.(LinkedChannel); ok && n.actions != nil {
		// Once per delivery, not per attempt: each call may issue new
		// single-use tokens.
		links, err := n.linksFor(ctx, d.Incident, lc.ActionRecipient(t))
		if err != nil {
			n.linkFailures.Add(1)
			linksErr = clean(redact.URLsIn(err.Error()), 300)
			tlog.Warn("action links unavailable: sending without buttons", zap.String("reason", linksErr))
		}
		t.Links = links
	}
	attempts, err := n.retry(ctx, deadline, tlog, func(ctx context.Context) error { return ch.Send(ctx, d, t) })
	if err == nil {
		tlog.Info("sent", zap.Int("attempts", attempts), zap.Int("action_links", len(t.Links.Buttons)))
	}
	return result{channel: ch.Name(), target: t.ID, attempts: attempts, err: err, linksErr: linksErr}
}

// retry runs op until it succeeds, fails permanently, runs out of attempts,
// or the context ends or the next wait would pass the deadline (then the
// error wraps ErrDeadline: the target waits for the next sweep). It waits
// what the far end asked for (Retry-After) or an exponential backoff, logs
// only when the error changes, and puts the attempt count in the final
// error.
func (n *Notifier) retry(ctx context.Context, deadline time.Time, log *zap.Logger, op func(context.Context) error) (int, error) {
	backoff := n.cfg.InitialBackoff
	last := ""
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("%w: not tried, the deadline came first: %w", ErrDeadline, err)
	}
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
		tries := fmt.Sprintf("%d %s", attempt, plural(attempt, "attempt", "attempts"))
		switch {
		case IsPermanent(err):
			return attempt, fmt.Errorf("failed permanently after %s: %w", tries, err)
		case ctx.Err() != nil:
			return attempt, fmt.Errorf("%w: notify deadline reached after %s: %w", ErrDeadline, tries, err)
		case attempt >= n.cfg.MaxAttempts:
			return attempt, fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		wait := backoff
		if after, ok := RetryAfter(err); ok {
			wait = after
		}
		backoff = min(backoff*2, n.cfg.MaxBackoff)
		if n.now().Add(wait).After(deadline) {
			return attempt, fmt.Errorf("%w: stopped after %s: the next try (in %s) would pass the notify deadline: %w",
				ErrDeadline, tries, wait.Round(time.Millisecond), err)
		}
		if serr := n.sleep(ctx, wait); serr != nil {
			return attempt, fmt.Errorf("%w: notify deadline reached after %s: %w", ErrDeadline, tries, err)
		}
	}
}
