package notify_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
)

var (
	alex     = notify.Owner{ID: "8105c513-d24b-4b8d-9035-f8d48854d703", Type: notify.OwnerUser, DisplayName: "Alex Wilber", Mail: "AlexW@contoso.com", UserPrincipalName: "AlexW@contoso.com"}
	megan    = notify.Owner{ID: "48d31887-5fad-4d73-a9f5-3c356e68a038", Type: notify.OwnerUser, DisplayName: "Megan Bowen", Mail: "MeganB@contoso.com"}
	noMail   = notify.Owner{ID: "a1b2c3d4-0000-4000-8000-000000000001", Type: notify.OwnerUser, DisplayName: "Contractor Without Mailbox", UserPrincipalName: "ext_contractor@contoso.onmicrosoft.com"}
	deployer = notify.Owner{ID: "5338db98-8266-400c-ba61-d8efab370100", Type: notify.OwnerServicePrincipal, DisplayName: "deploy-bot"}
	platform = notify.Owner{ID: "0f9e8d7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f", Type: notify.OwnerGroup, DisplayName: "Platform Team"}
)

var cfg = notify.RecipientConfig{Fallback: []string{"secops@contoso.com"}}

type want struct {
	address, source string
	reason          string // substring
}

func checkRecipients(t *testing.T, got []incident.Recipient, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d recipients, want %d:\n%+v", len(got), len(wants), got)
	}
	for i, w := range wants {
		g := got[i]
		if g.Address != w.address || g.Source != w.source || !strings.Contains(g.Reason, w.reason) {
			t.Errorf("recipient %d = {%q %q %q}, want {%q %q ~%q}", i, g.Address, g.Source, g.Reason, w.address, w.source, w.reason)
		}
	}
}

func app() incident.App {
	return incident.App{AppID: notifytest.AppID, ServicePrincipalID: notifytest.ServicePrincipalID, DisplayName: "Terraform-Datadog-CLI"}
}

func TestResolveApplicationOwners(t *testing.T) {
	res := notify.Resolve(cfg, app(), notify.OwnerLookup{Application: []notify.Owner{alex, megan}})
	checkRecipients(t, res.Recipients, []want{
		{"AlexW@contoso.com", notify.SourceApplicationOwner, "owner of the application"},
		{"MeganB@contoso.com", notify.SourceApplicationOwner, "owner of the application"},
		{"secops@contoso.com", notify.SourceFallback, "always copied"},
	})
	if res.Orphaned {
		t.Error("orphaned with two reachable owners")
	}
}

func TestResolveServicePrincipalOwners(t *testing.T) {
	// A multi-tenant or gallery app has no application object here; its
	// enterprise app's owners are the people to tell.
	res := notify.Resolve(cfg, app(), notify.OwnerLookup{ServicePrincipal: []notify.Owner{megan}})
	checkRecipients(t, res.Recipients, []want{
		{"MeganB@contoso.com", notify.SourceServicePrincipalOwner, "owner of the service principal"},
		{"secops@contoso.com", notify.SourceFallback, "always copied"},
	})
	if res.Orphaned {
		t.Error("orphaned with a reachable service principal owner")
	}
}

func TestResolveUnreachableOwnersAreReported(t *testing.T) {
	res := notify.Resolve(cfg, app(), notify.OwnerLookup{
		Application:      []notify.Owner{deployer, noMail},
		ServicePrincipal: []notify.Owner{platform, alex},
	})
	checkRecipients(t, res.Recipients, []want{
		{"", notify.SourceApplicationOwner, "is a service principal: it has no mailbox"},
		{"", notify.SourceApplicationOwner, "has no mail address"},
		{"", notify.SourceServicePrincipalOwner, "is a group"},
		{"AlexW@contoso.com", notify.SourceServicePrincipalOwner, "owner of the service principal"},
		{"secops@contoso.com", notify.SourceFallback, "always copied"},
	})
	if res.Recipients[0].Name != "deploy-bot" || res.Recipients[2].Name != "Platform Team" {
		t.Errorf("unreachable owners lost their names: %+v", res.Recipients)
	}
	if got := len(res.Reachable()); got != 2 {
		t.Errorf("Reachable() = %d, want 2", got)
	}
	if res.Orphaned {
		t.Error("orphaned although Alex owns the service principal")
	}
}

func TestResolveOverrides(t *testing.T) {
	c := cfg
	c.Overrides = map[string][]string{strings.ToUpper(notifytest.AppID): {"datadog-team@contoso.com"}}
	a := app()
	a.Tags = []string{"WindowsAzureActiveDirectoryIntegratedApp", "SPResponder:Notify=oncall-dd@contoso.com; alexw@CONTOSO.com", "spresponder:notify=not an address"}
	res := notify.Resolve(c, a, notify.OwnerLookup{Application: []notify.Owner{alex}})
	checkRecipients(t, res.Recipients, []want{
		{"AlexW@contoso.com", notify.SourceApplicationOwner, "owner of the application"},
		{"datadog-team@contoso.com", notify.SourceOverride, "configured for this app"},
		{"oncall-dd@contoso.com", notify.SourceOverride, "tag spresponder:notify="},
		// alexw@CONTOSO.com from the tag is a duplicate of the owner: dropped.
		{"", notify.SourceOverride, "not a valid mail address"},
		{"secops@contoso.com", notify.SourceFallback, "always copied"},
	})
}

func TestResolveFallbackWhenOrphaned(t *testing.T) {
	res := notify.Resolve(cfg, app(), notify.OwnerLookup{Application: []notify.Owner{deployer}})
	checkRecipients(t, res.Recipients, []want{
		{"", notify.SourceApplicationOwner, "service principal"},
		{"secops@contoso.com", notify.SourceFallback, "no owner who can receive mail"},
	})
	if !res.Orphaned {
		t.Error("not orphaned without a reachable owner")
	}
	// An override does not make an app owned: it is still orphaned.
	c := cfg
	c.Overrides = map[string][]string{notifytest.AppID: {"datadog-team@contoso.com"}}
	if res := notify.Resolve(c, app(), notify.OwnerLookup{}); !res.Orphaned || len(res.Reachable()) != 2 {
		t.Errorf("with override only: orphaned=%t reachable=%d, want true and 2", res.Orphaned, len(res.Reachable()))
	}
}

func TestResolveDedupCaseInsensitive(t *testing.T) {
	c := notify.RecipientConfig{
		Fallback:  []string{"SecOps@Contoso.com", "secops@contoso.com"},
		Overrides: map[string][]string{notifytest.AppID: {"ALEXW@contoso.COM"}},
	}
	alexAgain := alex
	alexAgain.Mail = "alexw@contoso.com"
	res := notify.Resolve(c, app(), notify.OwnerLookup{
		Application:      []notify.Owner{alex, alexAgain},
		ServicePrincipal: []notify.Owner{alexAgain},
	})
	checkRecipients(t, res.Recipients, []want{
		{"AlexW@contoso.com", notify.SourceApplicationOwner, "owner of the application"},
		{"SecOps@Contoso.com", notify.SourceFallback, "always copied"},
	})
}

func TestResolveLookupFailureIsNotOrphaned(t *testing.T) {
	res := notify.Resolve(cfg, app(), notify.OwnerLookup{ApplicationErr: errors.New("graph: 503 service unavailable"), ServicePrincipal: []notify.Owner{}})
	checkRecipients(t, res.Recipients, []want{
		{"", notify.SourceApplicationOwner, "could not be read"},
		{"secops@contoso.com", notify.SourceFallback, "owners could not be read"},
	})
	if res.Orphaned {
		t.Error("orphaned although the owners could not be read: we do not know")
	}
	if len(res.LookupErrors) != 1 {
		t.Errorf("LookupErrors = %v, want one", res.LookupErrors)
	}
}

func TestLookupOwners(t *testing.T) {
	dir := &notifytest.Owners{
		App: map[string][]notify.Owner{notifytest.AppID: {alex}},
		SP:  map[string][]notify.Owner{notifytest.ServicePrincipalID: {deployer}},
	}
	l := notify.LookupOwners(context.Background(), dir, app())
	if len(l.Application) != 1 || len(l.ServicePrincipal) != 1 || l.ApplicationErr != nil || l.ServicePrincipalErr != nil {
		t.Errorf("LookupOwners = %+v", l)
	}
}

func TestRecipientConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  notify.RecipientConfig
		want string
	}{
		{notify.RecipientConfig{}, "fallback is empty"},
		{notify.RecipientConfig{Fallback: []string{"secops"}}, "fallback address"},
		{notify.RecipientConfig{Fallback: []string{"secops@contoso.com"}, Overrides: map[string][]string{"x": {"bad address"}}}, "override for app x"},
		{notify.RecipientConfig{Fallback: []string{"secops@contoso.com"}}, ""},
	} {
		err := c.cfg.Validate()
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
}
