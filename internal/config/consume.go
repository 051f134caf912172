package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Consume is the configuration of `spresponder consume`, the standalone
// consumer (internal/consume). Its settings are read and checked for form
// with the others; Check says what `consume` itself needs.
type Consume struct {
	Namespace           string
	ConnectionString    string // SPRESPONDER_HUB_CONNECTION_STRING, shared with replay --hub and selftest
	Hub                 string
	ConsumerGroup       string
	CheckpointAccount   string
	CheckpointContainer string
	StartEarliest       bool
	BatchSize           int
	MaxWait             time.Duration
	UpdateInterval      time.Duration
	OwnershipExpiry     time.Duration
	SweepInterval       time.Duration
}

func loadConsume(c *Config, val func(string) string, errs *[]error) {
	k := &c.Consume
	k.Namespace = val("SPRESPONDER_CONSUME_NAMESPACE")
	k.ConnectionString = val("SPRESPONDER_HUB_CONNECTION_STRING")
	k.Hub = val("SPRESPONDER_CONSUME_HUB")
	k.ConsumerGroup = val("SPRESPONDER_CONSUME_CONSUMER_GROUP")
	k.CheckpointAccount = val("SPRESPONDER_CONSUME_CHECKPOINT_ACCOUNT_URL")
	if k.CheckpointAccount == "" {
		k.CheckpointAccount = c.LedgerAccountURL
	}
	k.CheckpointContainer = val("SPRESPONDER_CONSUME_CHECKPOINT_CONTAINER")
	if strings.Contains(k.Namespace, "://") || strings.Contains(k.Namespace, "/") {
		*errs = append(*errs, fmt.Errorf("SPRESPONDER_CONSUME_NAMESPACE=%q: want the fully qualified host name alone, such as contoso-entra.servicebus.windows.net", k.Namespace))
	}
	if a := k.CheckpointAccount; a != "" && !strings.HasPrefix(a, "https://") && !strings.HasPrefix(a, "http://127.0.0.1") {
		*errs = append(*errs, fmt.Errorf("SPRESPONDER_CONSUME_CHECKPOINT_ACCOUNT_URL=%q: want the account's https blob endpoint (or http://127.0.0.1 for Azurite)", a))
	}
	switch v := strings.ToLower(val("SPRESPONDER_CONSUME_START")); v {
	case "latest":
	case "earliest":
		k.StartEarliest = true
	default:
		*errs = append(*errs, fmt.Errorf("SPRESPONDER_CONSUME_START=%q: want latest or earliest", v))
	}
	k.BatchSize = intSetting(errs, val, "SPRESPONDER_CONSUME_BATCH_SIZE", 1, 1000)
	k.MaxWait = boundedDuration(errs, val, "SPRESPONDER_CONSUME_MAX_WAIT", 10*time.Millisecond, time.Minute)
	k.UpdateInterval = boundedDuration(errs, val, "SPRESPONDER_CONSUME_UPDATE_INTERVAL", 100*time.Millisecond, 10*time.Minute)
	k.OwnershipExpiry = boundedDuration(errs, val, "SPRESPONDER_CONSUME_OWNERSHIP_EXPIRY", time.Second, time.Hour)
	if k.UpdateInterval > 0 && k.OwnershipExpiry > 0 && k.OwnershipExpiry < 2*k.UpdateInterval {
		// The Processor renews every interval with up to 30% jitter: an
		// expiry closer than that hands live partitions back and forth.
		*errs = append(*errs, fmt.Errorf("SPRESPONDER_CONSUME_OWNERSHIP_EXPIRY=%s: want at least twice SPRESPONDER_CONSUME_UPDATE_INTERVAL (%s), or live instances take partitions from each other", k.OwnershipExpiry, k.UpdateInterval))
	}
	k.SweepInterval = boundedDuration(errs, val, "SPRESPONDER_CONSUME_SWEEP_INTERVAL", 0, 24*time.Hour)
	if k.SweepInterval > 0 && k.SweepInterval < time.Second {
		*errs = append(*errs, fmt.Errorf("SPRESPONDER_CONSUME_SWEEP_INTERVAL=%s: want 0s (off) or at least 1s", k.SweepInterval))
	}
}

// CheckConsume says what `spresponder consume` needs that the settings do
// not give, naming the settings; nil when it can start.
func (c Config) CheckConsume() error {
	var errs []error
	k := c.Consume
	switch {
	case k.Namespace == "" && k.ConnectionString == "":
		errs = append(errs, errors.New("SPRESPONDER_CONSUME_NAMESPACE: required by consume (or SPRESPONDER_HUB_CONNECTION_STRING for the emulator)"))
	case k.Namespace != "" && k.ConnectionString != "":
		errs = append(errs, errors.New("SPRESPONDER_CONSUME_NAMESPACE and SPRESPONDER_HUB_CONNECTION_STRING: set one or the other, not both"))
	}
	if k.Hub == "" {
		errs = append(errs, errors.New("SPRESPONDER_CONSUME_HUB: required by consume (the event hub Entra streams to)"))
	}
	if c.Ledger != "blob" {
		errs = append(errs, errors.New("SPRESPONDER_LEDGER: consume needs blob (instances share partitions, so they must share the ledger that makes each signal's handling happen once)"))
	}
	if k.CheckpointAccount == "" {
		errs = append(errs, errors.New("SPRESPONDER_CONSUME_CHECKPOINT_ACCOUNT_URL: required by consume (or SPRESPONDER_LEDGER_ACCOUNT_URL, its default)"))
	}
	return errors.Join(errs...)
}
