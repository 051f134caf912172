package detect

import (
	"bytes"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/spresponder/spresponder/internal/entra"
)

// SignIn examines a ServicePrincipalSignInLogs record. rec is the whole
// record, props the offset of its properties and tenant the tenant intake
// read from the envelope (and checked against the allow-list): the one
// reading of the record's tenant. The fast view decides whether the
// record can matter; only then is the record decoded fully.
func (b *Batch) SignIn(rec []byte, props int, tenant string, src Source) (Outcome, error) {
	v, err := entra.ScanSignIn(rec, props)
	if err != nil {
		return "", err
	}
	if !v.Escaped && !b.signInMatters(v) {
		if len(v.ErrorCode) > 0 && !isZero(v.ErrorCode) {
			return SignInOtherFailure, nil
		}
		return SignInWithoutRisk, nil
	}
	si, err := entra.DecodeSignIn(rec)
	if err != nil {
		return "", err
	}
	b.noteTolerated(si.Tolerated)
	if err := checkTenant(si.Tenant(), tenant); err != nil {
		return "", err
	}
	sigs := b.SignInSignals(si, src)
	for _, s := range sigs {
		if err := s.CheckIDs(); err != nil {
			return "", err
		}
	}
	out := Signalled
	for _, s := range sigs {
		extra := ""
		if s.Kind == RiskySignIn || s.Kind == BlockedSignIn {
			extra = s.IPAddress
		}
		if s.Kind == FailedSecretSignIns || s.Kind == ExpiredSecretSignIns {
			out = b.countFailed(s)
			continue
		}
		b.add(s, dedupKey(s, extra))
	}
	if len(sigs) == 0 {
		if si.Properties.Status.ErrorCode != 0 {
			return SignInOtherFailure, nil
		}
		return SignInWithoutRisk, nil
	}
	return out, nil
}

// levelRank orders risk levels; anything else ranks with none.
func levelRank(l string) int {
	switch l {
	case "low":
		return 1
	case "medium":
		return 2
	case "high":
		return 3
	}
	return 0
}

// raiseRating keeps the higher risk rating of dst and s on dst.
func raiseRating(dst *Signal, s Signal) {
	if levelRank(s.RiskLevel) > levelRank(dst.RiskLevel) {
		dst.RiskLevel = s.RiskLevel
	}
	if dst.RiskState == "" || (!riskyState([]byte(dst.RiskState)) && riskyState([]byte(s.RiskState))) {
		if s.RiskState != "" {
			dst.RiskState = s.RiskState
		}
	}
}

func isZero(code []byte) bool {
	if len(code) == 1 && code[0] == '0' {
		return true // nearly every sign-in
	}
	f, err := strconv.ParseFloat(string(code), 64)
	return err == nil && f == 0
}

// countFailed counts one failed-secret sign-in towards its key's
// threshold. It returns Signalled once the key has a signal (the records
// before it are folded into it) and Pending until then.
//
// A sign-in Entra rated medium or high risk (or atRisk,
// confirmedCompromised) does not wait for the threshold: Entra has judged
// it already. The signal keeps the highest rating of the sign-ins folded
// into it.
func (b *Batch) countFailed(s Signal) Outcome {
	k := dedupKey(s, "")
	if i, ok := b.index[k]; ok {
		b.signals[i].Count++
		raiseRating(&b.signals[i], s)
		return Signalled
	}
	c := b.failed[k]
	if c == nil {
		c = &failedCount{by: map[Outcome]int{}}
		b.failed[k] = c
		b.pending[k] = s
	} else {
		p := b.pending[k]
		raiseRating(&p, s)
		b.pending[k] = p
	}
	c.total++
	c.by[failedReason(s.ErrorCode)]++
	b.lastPending, b.lastPendingOutcome = k, failedReason(s.ErrorCode)
	rated := riskyLevel([]byte(s.RiskLevel)) || riskyState([]byte(s.RiskState))
	if c.total >= b.opts.FailedSecretThreshold || rated {
		p := b.pending[k]
		b.index[k] = len(b.signals)
		p.Count = c.total
		b.signals = append(b.signals, p)
		delete(b.pending, k)
		delete(b.failed, k)
		return Signalled
	}
	return Pending
}

func riskyState(s []byte) bool {
	return bytes.Equal(s, atRisk) || bytes.Equal(s, confirmedCompromised)
}

func riskyLevel(s []byte) bool { return bytes.Equal(s, medium) || bytes.Equal(s, high) }

// signInMatters is the fast screen. It must say true for every record
// SignInSignals would turn into a signal; FuzzSignInScreen holds it to that.
func (b *Batch) signInMatters(v entra.SignInView) bool {
	if riskyState(v.RiskState) || riskyLevel(v.RiskLevelDuringSignIn) || riskyLevel(v.RiskLevelAggregated) {
		return true
	}
	code, err := strconv.ParseFloat(string(v.ErrorCode), 64)
	if len(v.ErrorCode) > 0 && err != nil {
		return true // odd error code: let the full decoder judge
	}
	if int(code) == BlockedByConditionalAccess || slices.Contains(b.opts.FailedSecretCodes, int(code)) {
		return true
	}
	if b.opts.WatchedKey != nil && len(v.CredentialKeyID) > 0 && b.opts.WatchedKey(v.ServicePrincipalID, v.CredentialKeyID) {
		return true
	}
	if code == 0 && b.opts.AllowedNetworks != nil {
		if nets := b.opts.AllowedNetworks(v.AppID, v.ServicePrincipalID); len(nets) > 0 {
			return !inNetworks(string(v.IPAddress), nets)
		}
	}
	return false
}

func inNetworks(ip string, nets []netip.Prefix) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// SignInSignals turns one decoded sign-in into signals (before batch
// dedup). It is exported for the differential test of the fast screen.
func (b *Batch) SignInSignals(si entra.SignIn, src Source) []Signal {
	p := si.Properties
	base := Signal{
		TenantID:           si.Tenant(), // the caller has checked it is the scanned one
		AppID:              strings.ToLower(p.AppID),
		ServicePrincipalID: strings.ToLower(p.ServicePrincipalID),
		DisplayName:        p.ServicePrincipalName,
		CredentialType:     p.ClientCredentialType,
		Thumbprint:         strings.ToUpper(p.ServicePrincipalCredentialThumbprint),
		DetectionID:        p.ID,
		IPAddress:          p.IPAddress,
		Location:           p.Location.String(),
		ErrorCode:          int(p.Status.ErrorCode),
		Time:               firstTime(p.CreatedDateTime, si.Time),
		Activity:           "signin",
		Tolerated:          si.Tolerated,
		Source:             src,
	}
	if p.ServicePrincipalCredentialKeyID != "" {
		base.KeyIDs = []string{strings.ToLower(p.ServicePrincipalCredentialKeyID)}
	}
	code := int(p.Status.ErrorCode)
	var out []Signal
	switch {
	case code == BlockedByConditionalAccess:
		s := base
		s.Kind = BlockedSignIn
		s.RiskLevel = firstNonEmpty(p.RiskLevelDuringSignIn, p.RiskLevelAggregated)
		s.RiskState = p.RiskState
		for _, pol := range p.AppliedConditionalAccessPolicies {
			if strings.EqualFold(pol.Result, "failure") {
				s.PolicyIDs = append(s.PolicyIDs, pol.ID)
			}
		}
		out = append(out, s)
		return out // a refused sign-in is proof of the block, not a new risk
	case b.watched(p.ServicePrincipalID, p.ServicePrincipalCredentialKeyID):
		// A key an incident names: whatever else the sign-in says, it is
		// the use of that credential, and belongs to that incident (a
		// risk rating or a failed secret of it is no new incident).
		s := base
		s.Kind = KeySignIn
		s.Resource = p.ResourceDisplayName
		s.CAStatus = p.ConditionalAccessStatus
		s.RiskLevel = firstNonEmpty(p.RiskLevelDuringSignIn, p.RiskLevelAggregated)
		s.RiskState = p.RiskState
		return append(out, s)
	case slices.Contains(b.opts.FailedSecretCodes, code):
		s := base
		s.Kind = FailedSecretSignIns
		if code == ExpiredClientSecret {
			s.Kind = ExpiredSecretSignIns
		}
		s.DetectionID = "" // many sign-ins fold into one signal
		// A rating Entra gave the sign-in stays with the signal.
		s.RiskLevel = firstNonEmpty(p.RiskLevelDuringSignIn, p.RiskLevelAggregated)
		s.RiskState = p.RiskState
		out = append(out, s)
		return out
	}
	if riskyState([]byte(p.RiskState)) || riskyLevel([]byte(p.RiskLevelDuringSignIn)) || riskyLevel([]byte(p.RiskLevelAggregated)) {
		s := base
		s.Kind = RiskySignIn
		s.RiskLevel = firstNonEmpty(p.RiskLevelDuringSignIn, p.RiskLevelAggregated)
		s.RiskState = p.RiskState
		s.RiskDetail = p.RiskDetail
		out = append(out, s)
		return out
	}
	if code == 0 && b.opts.AllowedNetworks != nil {
		if nets := b.opts.AllowedNetworks([]byte(p.AppID), []byte(p.ServicePrincipalID)); len(nets) > 0 && !inNetworks(p.IPAddress, nets) {
			s := base
			s.Kind = RiskySignIn
			s.RiskEventType = UnexpectedNetwork
			s.RiskLevel = "medium"
			out = append(out, s)
		}
	}
	return out
}

// watched reports whether the sign-in's key is one Options.WatchedKey
// watches.
func (b *Batch) watched(spID, keyID string) bool {
	return b.opts.WatchedKey != nil && keyID != "" && b.opts.WatchedKey([]byte(spID), []byte(keyID))
}
