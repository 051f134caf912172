package playbook

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/incident"
)

// ActionKind names a write to the tenant. The strings are stored in the
// ledger (incident.Action.Kind) and never change.
type ActionKind string

const (
	RemovePassword          ActionKind = "removePassword"
	RemoveCertificate       ActionKind = "removeCertificate"
	ConfirmCompromised      ActionKind = "confirmCompromised"
	DisableServicePrincipal ActionKind = "disableServicePrincipal"
)

// kindSpec is everything the playbook knows about one kind of write, in one
// place: its wording, the Graph call, how a re-read tells whether it took
// effect, and what the tenant shows once it did.
type kindSpec struct {
	// credential: the write changes an object's credentials, so it holds the
	// object's write lease and is checked by a read-back of the object.
	credential bool
	describe   func(a incident.Action) string
	// write makes the call. For a credential it returns the object as read
	// right before the write, which the read-back compares with.
	write func(ctx context.Context, x *pass, a incident.Action) (before directory.Object, err error)
	// applied re-reads the tenant: did the write take effect?
	applied func(ctx context.Context, x *pass, a incident.Action) (bool, error)
	// done records what the tenant shows after the write.
	done func(x *pass, a *incident.Action)
}

var kinds = map[ActionKind]kindSpec{
	RemovePassword: {
		credential: true,
		describe: func(a incident.Action) string {
			return "remove client secret " + a.KeyID + " from the " + a.Target
		},
		write:   writeRemovePassword,
		applied: credentialGone,
		done:    func(_ *pass, a *incident.Action) { a.After = a.KeyID + " absent" },
	},
	RemoveCertificate: {
		credential: true,
		describe: func(a incident.Action) string {
			return "remove certificate " + a.KeyID + " from the " + a.Target + " (keeping every other certificate)"
		},
		write:   writeRemoveCertificate,
		applied: credentialGone,
		done:    func(_ *pass, a *incident.Action) { a.After = a.KeyID + " absent" },
	},
	ConfirmCompromised: {
		describe: func(a incident.Action) string {
			return "confirm service principal " + a.Target + " compromised (risk high: risk-based Conditional Access blocks new tokens)"
		},
		write: func(ctx context.Context, x *pass, a incident.Action) (directory.Object, error) {
			return directory.Object{}, x.r.dir.ConfirmCompromised(ctx, a.Target)
		},
		applied: func(ctx context.Context, x *pass, a incident.Action) (bool, error) {
			r, err := x.r.dir.RiskyServicePrincipal(ctx, a.Target)
			if err != nil {
				return false, err
			}
			return r.RiskState == "confirmedCompromised", nil
		},
		done: func(x *pass, a *incident.Action) {
			a.After = "service principal risk: confirmedCompromised high"
			x.in.App.RiskState, x.in.App.RiskLevel = "confirmedCompromised", "high"
		},
	},
	DisableServicePrincipal: {
		describe: func(a incident.Action) string { return "disable service principal " + a.Target },
		write: func(ctx context.Context, x *pass, a incident.Action) (directory.Object, error) {
			return directory.Object{}, x.r.dir.DisableServicePrincipal(ctx, a.Target)
		},
		applied: func(ctx context.Context, x *pass, a incident.Action) (bool, error) {
			o, err := x.r.dir.ServicePrincipal(ctx, x.in.App.AppID)
			if err != nil {
				return false, err
			}
			return o.AccountEnabled != nil && !*o.AccountEnabled, nil
		},
		done: func(_ *pass, a *incident.Action) { a.After = "disabled" },
	},
}

// kindOf is the table entry of an action; an unknown kind (a ledger written
// by a newer version) has no calls and is refused where one is needed.
func kindOf(a incident.Action) kindSpec {
	if k, ok := kinds[ActionKind(a.Kind)]; ok {
		return k
	}
	return kindSpec{
		describe: func(a incident.Action) string { return a.Kind + " " + a.Target },
		done:     func(*pass, *incident.Action) {},
	}
}

func describe(a incident.Action) string { return kindOf(a).describe(a) }

// writeRemovePassword: removePassword touches only its own keyId, so it
// needs no fresh read: the lease keeps other writers out, and the read-back
// proves the key gone. One round trip less to the removal.
func writeRemovePassword(ctx context.Context, x *pass, a incident.Action) (directory.Object, error) {
	x.mu.Lock()
	c := x.credential(a.KeyID)
	var o directory.Object
	if p := x.objectPtr(c.Location); p != nil {
		o = *p
	}
	x.mu.Unlock()
	if o.ID == "" {
		return o, fmt.Errorf("%w: no %s read for appId %s", directory.ErrRejected, c.Location, x.in.App.AppID)
	}
	if _, hasK := o.Key(a.KeyID, ""); hasK {
		return o, fmt.Errorf("%w: key %s is a certificate's password (a signing certificate)", errSigning, a.KeyID)
	}
	return o, x.r.dir.RemovePassword(ctx, o.Kind, o.ID, a.KeyID)
}

// writeRemoveCertificate rewrites the object's certificates without the
// compromised one. Certificates cannot be removed with removeKey (it needs
// the app's own private key), and the PATCH replaces the whole list: so it
// starts from a fresh read under the object's lease and sends back every
// other certificate exactly as read. Only plain verification certificates
// may be rewritten so; anything else goes to a person.
func writeRemoveCertificate(ctx context.Context, x *pass, a incident.Action) (directory.Object, error) {
	x.mu.Lock()
	c := x.credential(a.KeyID)
	x.mu.Unlock()
	fresh, err := x.readObject(ctx, c.Location)
	if err != nil {
		return fresh, err
	}
	if !strings.EqualFold(fresh.ID, x.objectID(c.Location)) {
		return fresh, fmt.Errorf("%w: the %s of appId %s is now object %s, not %s", directory.ErrRejected, c.Location, x.in.App.AppID, fresh.ID, x.objectID(c.Location))
	}
	_, hasP := fresh.Password(a.KeyID)
	k, hasK := fresh.Key(a.KeyID, "")
	switch {
	case !hasP && !hasK:
		return fresh, errAlreadyGone
	case hasP:
		return fresh, fmt.Errorf("%w: key %s is a certificate's password (a signing certificate)", errSigning, a.KeyID)
	case !plainCertificate(k):
		return fresh, fmt.Errorf("%w: certificate %s is %s/%s", errSigning, a.KeyID, k.Type, k.Usage)
	}
	var keep []directory.KeyCredential
	for _, k := range fresh.Keys {
		if strings.EqualFold(k.KeyID, a.KeyID) {
			continue
		}
		if !plainCertificate(k) {
			return fresh, fmt.Errorf("%w: the %s also holds %s certificate %s used to %s, which a rewrite of its certificates could lose", errSigning, c.Location, k.Type, k.KeyID, k.Usage)
		}
		if len(k.Key) == 0 {
			return fresh, fmt.Errorf("%w: certificate %s to keep came without its public key, so the certificates cannot be rewritten safely", directory.ErrRejected, k.KeyID)
		}
		keep = append(keep, k)
	}
	return fresh, x.r.dir.ReplaceKeyCredentials(ctx, fresh.Kind, fresh.ID, keep)
}

// plainCertificate: a certificate used to verify the app's own assertions,
// the only kind a keyCredentials rewrite may send back.
func plainCertificate(k directory.KeyCredential) bool {
	return k.Usage == "Verify" && k.Type == "AsymmetricX509Cert"
}

// credentialGone re-reads the object holding a credential: gone from it (or
// the object itself gone) means the removal took effect.
func credentialGone(ctx context.Context, x *pass, a incident.Action) (bool, error) {
	x.mu.Lock()
	c := x.credential(a.KeyID)
	x.mu.Unlock()
	o, err := x.readObject(ctx, c.Location)
	if errors.Is(err, directory.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	x.setObject(o)
	_, hasP := o.Password(a.KeyID)
	_, hasK := o.Key(a.KeyID, "")
	return !hasP && !hasK, nil
}
