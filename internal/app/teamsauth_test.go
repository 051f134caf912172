package app

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/spresponder/spresponder/internal/config"
	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
	"github.com/spresponder/spresponder/internal/notify/teams"
)

// A Workflows flow that requires sign-in gets the Authorization header,
// from SPRESPONDER_TEAMS_BEARER_TOKEN or from a token for
// SPRESPONDER_TEAMS_TOKEN_AUDIENCE; the token appears in no log line and in
// no error, even when the flow refuses the post.
func TestTeamsFlowSignIn(t *testing.T) {
	const static = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.STATICTOKENSECRET.sig"
	const fromIdentity = "MANAGEDIDENTITYTOKENSECRET"
	for _, c := range []struct {
		name     string
		env      map[string]string
		cred     graph.StaticToken
		wantAuth string
	}{
		{"bearer token setting", map[string]string{"SPRESPONDER_TEAMS_BEARER_TOKEN": static}, "", "Bearer " + static},
		{"managed identity for an audience", map[string]string{"SPRESPONDER_TEAMS_TOKEN_AUDIENCE": "https://service.flow.microsoft.com/"}, fromIdentity, "Bearer " + fromIdentity},
	} {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			status := http.StatusOK
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = append(got, r.Header.Get("Authorization"))
				mu.Unlock()
				w.WriteHeader(status)
				_, _ = w.Write([]byte(`{"error":{"code":"DirectApiAuthorizationRequired","message":"The caller with token ` + r.Header.Get("Authorization") + ` is not authorized"}}`))
			}))
			defer srv.Close()
			vars := map[string]string{"SPRESPONDER_TEAMS_WEBHOOK": srv.URL + "/workflows/1?sig=SIG", "SPRESPONDER_SECURITY_CONTACT": "sec@contoso.com"}
			for k, v := range c.env {
				vars[k] = v
			}
			get := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
			cfg, err := config.Load(get, func() []string {
				var l []string
				for k := range vars {
					l = append(l, k+"=")
				}
				return l
			})
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logs), zap.DebugLevel))
			tc, opts := teamsAuth(cfg, c.cred)
			ch, err := teams.New(tc, log, opts...)
			if err != nil {
				t.Fatal(err)
			}
			d := &notify.Delivery{Incident: notifytest.ExampleIncident()}
			if err := ch.Send(context.Background(), d, notify.Target{ID: teams.TargetDefault}); err != nil {
				t.Fatal(err)
			}
			status = http.StatusUnauthorized
			serr := ch.Send(context.Background(), d, notify.Target{ID: teams.TargetDefault})
			if serr == nil {
				t.Fatal("a refused post reported success")
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 2 || got[0] != c.wantAuth || got[1] != c.wantAuth {
				t.Errorf("Authorization headers %q, want %q", got, c.wantAuth)
			}
			for _, secret := range []string{static, fromIdentity, "STATICTOKENSECRET", "SIG"} {
				if strings.Contains(logs.String(), secret) || strings.Contains(serr.Error(), secret) {
					t.Errorf("%q leaked:\nlogs: %s\nerror: %v", secret, logs.String(), serr)
				}
			}
		})
	}
}
