package teams_test

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
	"github.com/spresponder/spresponder/internal/notify/teams"
)

// update is accepted, and unused here, so that
// "go test ./internal/notify/... -update" works across the whole tree.
var _ = flag.Bool("update", false, "rewrite golden files (none in this package)")

func delivery() *notify.Delivery { return &notify.Delivery{Incident: notifytest.ExampleIncident()} }

func ids(ts []notify.Target) string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return strings.Join(out, ",")
}

func TestTargets(t *testing.T) {
	const a, b = "https://a.example/hook?sig=aaaaaaaa", "https://b.example/hook?sig=bbbbbbbb"
	for _, c := range []struct {
		cfg  teams.Config
		want string
	}{
		{teams.Config{WebhookURL: a}, teams.TargetDefault},
		{teams.Config{WebhookURL: a, AppWebhookURLs: map[string]string{strings.ToUpper(notifytest.AppID): b}}, teams.TargetDefault + "," + teams.TargetApp},
		{teams.Config{AppWebhookURLs: map[string]string{notifytest.AppID: b}}, teams.TargetApp},
		{teams.Config{WebhookURL: a, AppWebhookURLs: map[string]string{"other-app": b}}, teams.TargetDefault},
		// The same webhook twice is one channel: post once.
		{teams.Config{WebhookURL: a, AppWebhookURLs: map[string]string{notifytest.AppID: a}}, teams.TargetDefault},
	} {
		n, err := teams.New(c.cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(n.Targets(delivery())); got != c.want {
			t.Errorf("Targets(%v) = %q, want %q", c.cfg.AppWebhookURLs, got, c.want)
		}
	}
	if _, err := teams.New(teams.Config{}, nil); err == nil {
		t.Error("New accepted no webhook at all")
	}
}

func TestSendClassifiesResponses(t *testing.T) {
	cases := []struct {
		name      string
		handler   http.HandlerFunc
		permanent bool
		after     time.Duration
		ok        bool
	}{
		{"accepted", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }, false, 0, true},
		{"ok", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }, false, 0, true},
		{"flow deleted", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":{"code":"WorkflowNotFound"}}`, http.StatusNotFound)
		}, true, 0, false},
		{"too large", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusRequestEntityTooLarge) }, true, 0, false},
		{"throttled", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "12")
			w.WriteHeader(http.StatusTooManyRequests)
		}, false, 12 * time.Second, false},
		{"unavailable with retry-after", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusServiceUnavailable)
		}, false, 3 * time.Second, false},
		{"server error", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }, false, 0, false},
		{"request timeout", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusRequestTimeout) }, false, 0, false},
		{"huge error body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
		}, true, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(c.handler)
			defer srv.Close()
			n, err := teams.New(teams.Config{WebhookURL: srv.URL + "/hook?sig=s3cr3t-signature"}, nil, teams.WithHTTPClient(srv.Client()))
			if err != nil {
				t.Fatal(err)
			}
			err = n.Send(context.Background(), delivery(), notify.Target{ID: teams.TargetDefault})
			if (err == nil) != c.ok {
				t.Fatalf("Send = %v", err)
			}
			if err == nil {
				return
			}
			if notify.IsPermanent(err) != c.permanent {
				t.Errorf("IsPermanent(%v) = %t", err, !c.permanent)
			}
			if after, _ := notify.RetryAfter(err); after != c.after {
				t.Errorf("RetryAfter = %v, want %v", after, c.after)
			}
			if len(err.Error()) > 400 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
			notifytest.AssertNoSecrets(t, []string{"s3cr3t-signature"}, err)
		})
	}
}

func TestSendTimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	n, err := teams.New(teams.Config{WebhookURL: srv.URL + "/hook?sig=timeout-signature"}, nil, teams.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = n.Send(ctx, delivery(), notify.Target{ID: teams.TargetDefault})
	if !errors.Is(err, context.DeadlineExceeded) || notify.IsPermanent(err) {
		t.Errorf("Send = %v, want a retryable deadline error", err)
	}
	notifytest.AssertNoSecrets(t, []string{"timeout-signature", srv.URL + "/hook"}, err)
}

func TestSendUnknownTarget(t *testing.T) {
	n, err := teams.New(teams.Config{WebhookURL: "https://a.example/hook?sig=aaaaaaaa"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(context.Background(), delivery(), notify.Target{ID: teams.TargetApp}); !notify.IsPermanent(err) {
		t.Errorf("Send to an unconfigured target = %v, want permanent", err)
	}
}
