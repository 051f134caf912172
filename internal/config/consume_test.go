package config

import (
	"strings"
	"testing"
	"time"
)

func TestConsumeSettings(t *testing.T) {
	c, err := loadWith(map[string]string{"SPRESPONDER_LEDGER": "blob", "SPRESPONDER_LEDGER_ACCOUNT_URL": "https://acct.blob.core.windows.net"})
	if err != nil {
		t.Fatal(err)
	}
	k := c.Consume
	if k.ConsumerGroup != "$Default" || k.CheckpointContainer != "spresponder-checkpoints" || k.StartEarliest || k.BatchSize != 100 ||
		k.MaxWait != 500*time.Millisecond || k.UpdateInterval != 10*time.Second || k.OwnershipExpiry != time.Minute || k.SweepInterval != 2*time.Minute {
		t.Fatalf("defaults: %+v", k)
	}
	if k.CheckpointAccount != "https://acct.blob.core.windows.net" {
		t.Errorf("checkpoint account %q, want the ledger's by default", k.CheckpointAccount)
	}
	// What consume needs is said by setting name, all at once.
	err = c.CheckConsume()
	for _, want := range []string{"SPRESPONDER_CONSUME_NAMESPACE", "SPRESPONDER_CONSUME_HUB"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckConsume without %s: %v", want, err)
		}
	}
	c, err = loadWith(map[string]string{"SPRESPONDER_CONSUME_NAMESPACE": "ns.servicebus.windows.net", "SPRESPONDER_CONSUME_HUB": "entra"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckConsume(); err == nil || !strings.Contains(err.Error(), "SPRESPONDER_LEDGER: consume needs blob") {
		t.Errorf("file ledger: %v", err)
	}
	for env, want := range map[string][2]string{
		"SPRESPONDER_CONSUME_OWNERSHIP_EXPIRY":       {"15s", "at least twice SPRESPONDER_CONSUME_UPDATE_INTERVAL"},
		"SPRESPONDER_CONSUME_START":                  {"beginning", "want latest or earliest"},
		"SPRESPONDER_CONSUME_NAMESPACE":              {"sb://ns.servicebus.windows.net/", "host name alone"},
		"SPRESPONDER_CONSUME_CHECKPOINT_ACCOUNT_URL": {"http://acct.blob.core.windows.net", "https blob endpoint"},
		"SPRESPONDER_CONSUME_BATCH_SIZE":             {"0", "from 1 to 1000"},
		"SPRESPONDER_CONSUME_SWEEP_INTERVAL":         {"100ms", "at least 1s"},
	} {
		_, err := loadWith(map[string]string{env: want[0]})
		if err == nil || !strings.Contains(err.Error(), env) || !strings.Contains(err.Error(), want[1]) {
			t.Errorf("%s=%s: %v", env, want[0], err)
		}
	}
}
