package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/playbook"
	keyuse "github.com/spresponder/spresponder/internal/usage"
)

// The self-test proves, after a deployment, that an event sent to the Entra
// event hub reaches the handler and the ledger: the failure it finds is
// "the function never fires" (wrong connection setting, consumer group,
// trigger disabled, handler not starting), on day one rather than on the
// day of the first leak.
//
// The event is a ServicePrincipalRiskEvents record in the configured
// tenant, for a service principal that does not exist, with a detection id
// that starts with detect.SelfTestDetectionPrefix (no real detection id
// does) and "spresponderSelfTest": true for a person reading the hub.
// Detection turns it into a detect.SelfTest signal; selfTestResponder, in
// front of the playbook on the serve path, records it in the ledger as a
// resolved control record and passes nothing on, so it makes no Graph
// call, no write and no notification. The CLI waits for that record.

// selfTestAppID is the appId and service principal id of the self-test
// record: a GUID no tenant object has (version nibble 0, which Entra never
// issues).
const selfTestAppID = "5e1f7e57-0000-0000-0000-000000000000"

// selfTestLedgerID is the ledger id of a self-test's marker: a control
// record (IsControl: the Sweep and the incident lists skip it), named from
// a digest of the detection id, never from the id itself (it comes from
// the hub).
func selfTestLedgerID(detectionID string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(detectionID)))
	return "control-selftest-" + hex.EncodeToString(sum[:12])
}

// selfTestRecord builds the event body the self-test sends.
func selfTestRecord(tenantID, detectionID string, now time.Time) ([]byte, error) {
	rec := map[string]any{
		"time":                now.UTC().Format(time.RFC3339Nano),
		"resourceId":          "/tenants/" + tenantID + "/providers/microsoft.aadiam",
		"operationName":       "Service principal risk detection",
		"category":            "ServicePrincipalRiskEvents",
		"tenantId":            tenantID,
		"correlationId":       detectionID,
		"spresponderSelfTest": true,
		"properties": map[string]any{
			"id": detectionID, "riskEventType": "generic", "riskState": "atRisk", "riskLevel": "none", "riskDetail": "none",
			"source": "spresponder selftest", "detectionTimingType": "offline", "activity": "servicePrincipal",
			"activityDateTime": now.UTC().Format(time.RFC3339), "detectedDateTime": now.UTC().Format(time.RFC3339),
			"servicePrincipalId": selfTestAppID, "servicePrincipalDisplayName": "spresponder self-test (synthetic, no such app)",
			"appId": selfTestAppID, "keyIds": []string{},
		},
	}
	return json.Marshal(map[string]any{"records": []any{rec}})
}

// selfTestResponder sits in front of the playbook on the serve path: it
// records self-test signals as markers and hands every other signal on.
type selfTestResponder struct {
	next   *playbook.Responder
	ledger ledger.Incidents
	now    func() time.Time
	// watch, when set, learns the keys of the incidents handled here at
	// once, before the Sweep's refresh (internal/keyuse.Watch).
	watch *keyuse.Watch
}

func (s selfTestResponder) Respond(ctx context.Context, sigs []detect.Signal, log *zap.Logger) error {
	rest := sigs[:0:0]
	for _, sig := range sigs {
		if sig.Kind != detect.SelfTest {
			rest = append(rest, sig)
			continue
		}
		now := s.now()
		in := &incident.Incident{
			ID: selfTestLedgerID(sig.DetectionID), State: incident.StateResolved, Mode: "dry-run",
			Signals: []detect.Signal{sig}, Created: now, Updated: now,
			History: []incident.Event{{At: now, Step: "selftest", Actor: "responder",
				What: "self-test event received through the event hub: recorded, never acted on"}},
		}
		// Claim is a conditional create: a redelivered self-test is a
		// duplicate, not an error. A ledger failure fails the batch, as
		// for any signal.
		_, created, err := s.ledger.Claim(ctx, in)
		if err != nil {
			return fmt.Errorf("record the self-test marker: %w", err)
		}
		log.Info("self-test event received", zap.String("incident", in.ID), zap.Bool("first_delivery", created))
	}
	if len(rest) == 0 {
		return nil
	}
	out, err := s.next.Handle(ctx, rest, log)
	if s.watch != nil {
		s.watch.Add(out.Incidents...)
	}
	return err
}

// runSelfTest is `spresponder selftest`: send the synthetic event to the
// hub, then wait (bounded) for the service to record it in the ledger.
func runSelfTest(ctx context.Context, args []string, env Env) error {
	fs := newFlags("selftest", env)
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for the service to record the event")
	hubNS := fs.String("hub-namespace", "", "fully qualified namespace (default $EntraEventHub__fullyQualifiedNamespace)")
	hubName := fs.String("hub-name", "", "event hub name (default $ENTRA_EVENTHUB_NAME)")
	poll := fs.Duration("poll", 2*time.Second, "how often to look in the ledger")
	if err := parseFlags(fs, args, env); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	if len(cfg.Tenants) == 0 {
		return errors.New("SPRESPONDER_TENANTS is needed: the self-test event is in the configured tenant (records of other tenants are quarantined)")
	}
	get := func(k string) string { v, _ := env.Getenv(k); return v }
	if *hubNS == "" {
		*hubNS = get("EntraEventHub__fullyQualifiedNamespace")
	}
	if *hubName == "" {
		*hubName = get("ENTRA_EVENTHUB_NAME")
	}
	if *hubName == "" {
		return usageError{errors.New("--hub-name (or ENTRA_EVENTHUB_NAME) is required")}
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	detID := detect.SelfTestDetectionPrefix + hex.EncodeToString(nonce[:])
	body, err := selfTestRecord(cfg.Tenants[0], detID, env.Now())
	if err != nil {
		return err
	}
	led, err := openLedger(ctx, cfg, "")
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	start := env.Now()
	if err := sendToHub(ctx, get("SPRESPONDER_HUB_CONNECTION_STRING"), *hubNS, *hubName, cfg.ManagedIdentity, body); err != nil {
		return err
	}
	id := selfTestLedgerID(detID)
	fmt.Fprintf(env.Stdout, "sent self-test event %s to %s; waiting up to %s for ledger record %s\n", detID, *hubName, *timeout, id)
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	in, err := waitForLedger(wctx, led, id, *poll)
	if err != nil {
		return fmt.Errorf("no ledger record after %s: the function did not process the event (%w). Check that the Function App runs, that its EntraLogs trigger reads hub %q "+
			"(connection setting EntraEventHub__fullyQualifiedNamespace, consumer group), that SPRESPONDER_TENANTS matches, and that it writes to the ledger this CLI reads",
			*timeout, err, *hubName)
	}
	fmt.Fprintf(env.Stdout, "OK: the service recorded the self-test in %s (received %s); nothing was acted on\n",
		env.Now().Sub(start).Round(100*time.Millisecond), in.Created.UTC().Format(time.RFC3339))
	return nil
}

// sendToHub sends one event with the azeventhubs producer: with a
// connection string (the emulator) or the namespace and the identity (in
// Azure; the role Azure Event Hubs Data Sender).
func sendToHub(ctx context.Context, connStr, namespace, hub, clientID string, body []byte) error {
	var (
		p   *azeventhubs.ProducerClient
		err error
	)
	if connStr != "" {
		p, err = azeventhubs.NewProducerClientFromConnectionString(connStr, hub, nil)
	} else {
		if namespace == "" {
			return usageError{errors.New("--hub-namespace (or EntraEventHub__fullyQualifiedNamespace, or SPRESPONDER_HUB_CONNECTION_STRING) is required")}
		}
		cred, cerr := azureCredential(clientID)
		if cerr != nil {
			return cerr
		}
		p, err = azeventhubs.NewProducerClient(namespace, hub, cred, nil)
	}
	if err != nil {
		// The connection string is a secret: say only which hub.
		return fmt.Errorf("event hub producer for %s: cannot connect", hub)
	}
	defer func() { _ = p.Close(context.WithoutCancel(ctx)) }()
	batch, err := p.NewEventDataBatch(ctx, nil)
	if err != nil {
		return fmt.Errorf("send the self-test to %s: %w", hub, err)
	}
	if err := batch.AddEventData(&azeventhubs.EventData{Body: body}, nil); err != nil {
		return fmt.Errorf("send the self-test to %s: %w", hub, err)
	}
	if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
		return fmt.Errorf("send the self-test to %s (needs the role Azure Event Hubs Data Sender): %w", hub, err)
	}
	return nil
}

// waitForLedger polls the ledger for the marker until ctx ends.
func waitForLedger(ctx context.Context, l ledger.Incidents, id string, every time.Duration) (*incident.Incident, error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		in, err := l.Get(ctx, id)
		if err == nil {
			return in, nil
		}
		// Not there yet, or the ledger failed for a moment: keep looking
		// until the deadline, and say what the last read found.
		select {
		case <-ctx.Done():
			if !errors.Is(err, ledger.ErrNotFound) && ctx.Err() != err {
				return nil, fmt.Errorf("%w; last ledger read: %v", ctx.Err(), err)
			}
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}
