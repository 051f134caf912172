package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/ledger"
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
// Detection turns it into a detect.SelfTest signal; the playbook records a
// self-test marker for it in the ledger (a control record of its own kind,
// ledger.SelfTests) and nothing else, so it makes no Graph call, no write
// and no notification. The CLI waits for that marker.

// selfTestAppID is the appId and service principal id of the self-test
// record: a GUID no tenant object has (version nibble 0, which Entra never
// issues).
const selfTestAppID = "5e1f7e57-0000-0000-0000-000000000000"

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
	fmt.Fprintf(env.Stdout, "sent self-test event %s to %s; waiting up to %s for its marker in the ledger\n", detID, *hubName, *timeout)
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	m, err := waitForMarker(wctx, ledger.SelfTests{L: led}, detID, *poll)
	if err != nil {
		return fmt.Errorf("no ledger record after %s: the function did not process the event (%w). Check that the Function App runs, that its EntraLogs trigger reads hub %q "+
			"(connection setting EntraEventHub__fullyQualifiedNamespace, consumer group), that SPRESPONDER_TENANTS matches, and that it writes to the ledger this CLI reads",
			*timeout, err, *hubName)
	}
	fmt.Fprintf(env.Stdout, "OK: the service recorded the self-test in %s (received %s); nothing was acted on\n",
		env.Now().Sub(start).Round(100*time.Millisecond), m.Received.UTC().Format(time.RFC3339))
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

// waitForMarker polls the ledger for the self-test's marker until ctx
// ends.
func waitForMarker(ctx context.Context, st ledger.SelfTests, detectionID string, every time.Duration) (ledger.SelfTestMarker, error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		m, found, err := st.Get(ctx, detectionID)
		if err == nil && found {
			return m, nil
		}
		if err == nil {
			err = ledger.ErrNotFound
		}
		// Not there yet, or the ledger failed for a moment: keep looking
		// until the deadline, and say what the last read found.
		select {
		case <-ctx.Done():
			if !errors.Is(err, ledger.ErrNotFound) && ctx.Err() != err {
				return ledger.SelfTestMarker{}, fmt.Errorf("%w; last ledger read: %v", ctx.Err(), err)
			}
			return ledger.SelfTestMarker{}, ctx.Err()
		case <-t.C:
		}
	}
}
