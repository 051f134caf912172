package notify

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/incident"
)

// OwnerType is the directory object type of an owner.
type OwnerType string

const (
	OwnerUser             OwnerType = "user"
	OwnerServicePrincipal OwnerType = "servicePrincipal"
	OwnerGroup            OwnerType = "group"
)

// Owner is one owner of an application or service principal, as the
// directory returns it (Graph: GET .../owners?$select=id,displayName,mail,
// userPrincipalName; the type comes from @odata.type).
type Owner struct {
	ID                string
	Type              OwnerType
	DisplayName       string
	Mail              string
	UserPrincipalName string
}

// Owners is what the notifier needs from the directory. The Graph adapter
// implements it with
//
//	GET /applications(appId='{appId}')/owners
//	GET /servicePrincipals/{id}/owners
//
// (Application.Read.All, plus User.ReadBasic.All to see owners' mail). An
// object that does not exist in this tenant (a multi-tenant app has no
// application object here) is not an error: return an empty list. Other
// failures may be wrapped in directory.ThrottledError or Permanent; anything else is
// retried.
type Owners interface {
	ApplicationOwners(ctx context.Context, appID string) ([]Owner, error)
	ServicePrincipalOwners(ctx context.Context, servicePrincipalID string) ([]Owner, error)
}

// Recipient sources, stored in incident.Recipient.Source.
const (
	SourceApplicationOwner      = "applicationOwner"
	SourceServicePrincipalOwner = "servicePrincipalOwner"
	SourceOverride              = "override"
	SourceFallback              = "fallback"
)

// NotifyTag is the service-principal tag prefix that names extra contacts
// for one app: "spresponder:notify=team@contoso.com". Several addresses may
// be separated by commas or semicolons.
const NotifyTag = "spresponder:notify="

// RecipientConfig is the configured part of recipient resolution.
type RecipientConfig struct {
	// Overrides maps an appId (compared case-insensitively) to extra
	// addresses for that app, typically a team mailbox.
	Overrides map[string][]string
	// Fallback is the security team's address(es). They are always copied,
	// and they are the only recipients of an app without a reachable owner.
	Fallback []string
}

// Validate checks the configuration: at least one fallback address, and
// every address parses.
func (c RecipientConfig) Validate() error {
	if len(c.Fallback) == 0 {
		return errors.New("notify recipients: fallback is empty: set at least one security contact address, or an orphaned app's incident would reach nobody")
	}
	for _, a := range c.Fallback {
		if _, err := parseAddress(a); err != nil {
			return fmt.Errorf("notify recipients: fallback address %q: %w", a, err)
		}
	}
	for app, addrs := range c.Overrides {
		for _, a := range addrs {
			if _, err := parseAddress(a); err != nil {
				return fmt.Errorf("notify recipients: override for app %s: address %q: %w", app, a, err)
			}
		}
	}
	return nil
}

// OwnerLookup is the result of reading an app's owners from the directory:
// each list, or the error that prevented reading it.
type OwnerLookup struct {
	Application         []Owner
	ApplicationErr      error
	ServicePrincipal    []Owner
	ServicePrincipalErr error
}

// LookupOwners reads both owner lists once. The Notifier wraps each call in
// its retry loop instead; this is for callers that want a single attempt
// (the CLI's "who would be told" view, tests).
func LookupOwners(ctx context.Context, dir Owners, app incident.App) OwnerLookup {
	var l OwnerLookup
	if app.AppID != "" {
		l.Application, l.ApplicationErr = dir.ApplicationOwners(ctx, app.AppID)
	}
	if app.ServicePrincipalID != "" {
		l.ServicePrincipal, l.ServicePrincipalErr = dir.ServicePrincipalOwners(ctx, app.ServicePrincipalID)
	}
	return l
}

// Resolution is the outcome of recipient resolution.
type Resolution struct {
	// Recipients in order: application owners, service-principal owners,
	// overrides, fallback. Entries without an Address are owners who could
	// not be reached (or an owner list that could not be read); Reason says
	// why. They are kept so that the notification can say so.
	Recipients []incident.Recipient
	// Orphaned is true when both owner lists were read and neither holds an
	// owner who can receive mail. It stays false when a list could not be
	// read: we do not know.
	Orphaned bool
	// LookupErrors are the directory failures, for the pager and the log.
	LookupErrors []error
}

// Reachable returns the recipients that have an address.
func (r Resolution) Reachable() []incident.Recipient {
	var out []incident.Recipient
	for _, rc := range r.Recipients {
		if rc.Address != "" {
			out = append(out, rc)
		}
	}
	return out
}

// Resolve decides who is told about an incident, from the owner lists, the
// app's tags and the configuration. It is pure: the same inputs always give
// the same recipients in the same order.
func Resolve(cfg RecipientConfig, app incident.App, owners OwnerLookup) Resolution {
	var res Resolution
	seen := map[string]bool{}
	add := func(rc incident.Recipient) bool {
		if rc.Address == "" {
			res.Recipients = append(res.Recipients, rc)
			return false
		}
		key := strings.ToLower(rc.Address)
		if seen[key] {
			return true // an earlier, more specific source already has it
		}
		seen[key] = true
		res.Recipients = append(res.Recipients, rc)
		return true
	}

	reachableOwners := 0
	addOwners := func(list []Owner, err error, source, of string) {
		if err != nil {
			res.LookupErrors = append(res.LookupErrors, fmt.Errorf("read %s owners: %w", of, err))
			add(incident.Recipient{Source: source, Reason: fmt.Sprintf("the %s's owners could not be read from the directory: %s", of, clean(err.Error(), 200))})
			return
		}
		for _, o := range list {
			rc := ownerRecipient(o, source, of)
			if add(rc) && rc.Address != "" {
				reachableOwners++
			}
		}
	}
	addOwners(owners.Application, owners.ApplicationErr, SourceApplicationOwner, "application")
	addOwners(owners.ServicePrincipal, owners.ServicePrincipalErr, SourceServicePrincipalOwner, "service principal")

	// Sorted so that two keys differing only in case give a stable order.
	for _, appID := range slices.Sorted(maps.Keys(cfg.Overrides)) {
		if !strings.EqualFold(appID, app.AppID) {
			continue
		}
		for _, a := range cfg.Overrides[appID] {
			addAddress(add, a, SourceOverride, "contact configured for this app")
		}
	}
	for _, tag := range app.Tags {
		v, ok := cutPrefixFold(tag, NotifyTag)
		if !ok {
			continue
		}
		for _, a := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' }) {
			addAddress(add, a, SourceOverride, "contact named by the service principal tag "+NotifyTag+"...")
		}
	}

	lookupsOK := owners.ApplicationErr == nil && owners.ServicePrincipalErr == nil
	res.Orphaned = lookupsOK && reachableOwners == 0
	fallbackReason := "security team (always copied)"
	switch {
	case res.Orphaned:
		fallbackReason = "security team: the app has no owner who can receive mail"
	case reachableOwners == 0:
		fallbackReason = "security team: the app's owners could not be read"
	}
	for _, a := range cfg.Fallback {
		addAddress(add, a, SourceFallback, fallbackReason)
	}
	return res
}

// ResolveSecurityOnly is the resolution for an incident only security and
// on-call may hear of (SecurityOnly): the configured security contacts,
// with reason as the reason each is told. No owner list is read and no
// override or tag is honoured: a forged event must not reach a person who
// would act on it.
func ResolveSecurityOnly(cfg RecipientConfig, reason string) Resolution {
	var res Resolution
	seen := map[string]bool{}
	add := func(rc incident.Recipient) bool {
		if rc.Address != "" {
			if seen[strings.ToLower(rc.Address)] {
				return true
			}
			seen[strings.ToLower(rc.Address)] = true
		}
		res.Recipients = append(res.Recipients, rc)
		return true
	}
	for _, a := range cfg.Fallback {
		addAddress(add, a, SourceFallback, reason)
	}
	return res
}

// ownerRecipient turns a directory owner into a recipient, or into an
// unreachable entry with the reason.
func ownerRecipient(o Owner, source, of string) incident.Recipient {
	name := clean(o.DisplayName, 120)
	if name == "" {
		name = o.ID
	}
	rc := incident.Recipient{Name: name, Source: source}
	switch o.Type {
	case OwnerUser:
		if o.Mail == "" {
			rc.Reason = "owner of the " + of + " has no mail address (no mailbox, or the responder may not read user mail)"
			return rc
		}
		addr, err := parseAddress(o.Mail)
		if err != nil {
			rc.Reason = "owner of the " + of + " has a mail address that is not valid"
			return rc
		}
		rc.Address = addr
		rc.Reason = "owner of the " + of
	case OwnerServicePrincipal:
		rc.Reason = "owner of the " + of + " is a service principal: it has no mailbox"
	case OwnerGroup:
		rc.Reason = "owner of the " + of + " is a group: groups are not expanded, add its people as owners"
	default:
		rc.Reason = fmt.Sprintf("owner of the %s is a %q: only users can be told", of, clean(string(o.Type), 40))
	}
	return rc
}

func addAddress(add func(incident.Recipient) bool, raw, source, reason string) {
	addr, err := parseAddress(raw)
	if err != nil {
		add(incident.Recipient{Name: clean(raw, 120), Source: source, Reason: "not a valid mail address"})
		return
	}
	add(incident.Recipient{Address: addr, Source: source, Reason: reason})
}

// parseAddress accepts a bare address and returns it without a display
// name, so that nothing but the address reaches a mail header.
func parseAddress(s string) (string, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("not a mail address: %w", err)
	}
	return a.Address, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(s[len(prefix):]), true
}

// lookupOwners reads both owner lists, each with retries, and returns by
// the context's end even if the directory does not: what was not read by
// then counts as unreadable (the security fallback is told).
func (n *Notifier) lookupOwners(ctx context.Context, deadline time.Time, log *zap.Logger, app incident.App) OwnerLookup {
	if n.owners == nil {
		return OwnerLookup{}
	}
	out := make(chan OwnerLookup, 1)
	go func() {
		var l OwnerLookup
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
		out <- l
	}()
	select {
	case l := <-out:
		return l
	case <-ctx.Done():
		err := fmt.Errorf("owners not read by the notify deadline: %w", ctx.Err())
		return OwnerLookup{ApplicationErr: err, ServicePrincipalErr: err}
	}
}

// ownersOnly narrows a resolution to the owners (and the app's configured
// contacts) when the rules file's reach section says so for the incident's
// tier: the security contact is left out, unless no owner or contact has
// an address, when it stays (an incident must reach someone).
func ownersOnly(res Resolution) Resolution {
	reachable := slices.ContainsFunc(res.Recipients, func(r incident.Recipient) bool {
		return r.Address != "" && r.Source != SourceFallback
	})
	if !reachable {
		return res
	}
	out := res
	out.Recipients = slices.DeleteFunc(slices.Clone(res.Recipients), func(r incident.Recipient) bool { return r.Source == SourceFallback })
	return out
}
