package config

import (
	"strings"
	"testing"
	"time"
)

func loadWith(env map[string]string) (Config, error) {
	get := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	environ := func() []string {
		var out []string
		for k, v := range env {
			out = append(out, k+"="+v)
		}
		return out
	}
	return Load(get, environ)
}

func TestReconcileAndHeartbeatSettings(t *testing.T) {
	c, err := loadWith(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Reconcile || c.ReconcileOverlap != 5*time.Minute || c.ReconcileLookback != 24*time.Hour || c.ReconcilePace != time.Second ||
		c.HeartbeatSignIns != 30*time.Minute || c.HeartbeatRisk != 0 || c.HeartbeatAudit != 0 {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = loadWith(map[string]string{"SPRESPONDER_HEARTBEAT_RISK": "7d", "SPRESPONDER_RECONCILE": "false", "SPRESPONDER_RECONCILE_PACE": "0s"})
	if err != nil || c.HeartbeatRisk != 7*24*time.Hour || c.Reconcile || c.ReconcilePace != 0 {
		t.Fatalf("7d, off, no pace: %+v %v", c, err)
	}
	for env, want := range map[string]string{
		"SPRESPONDER_HEARTBEAT_SIGNINS":  "at least 10m",
		"SPRESPONDER_RECONCILE_OVERLAP":  "want a duration from 1s",
		"SPRESPONDER_RECONCILE_LOOKBACK": "want a duration from 1m0s",
	} {
		_, err := loadWith(map[string]string{env: "5m" + map[bool]string{true: "x", false: ""}[env != "SPRESPONDER_HEARTBEAT_SIGNINS"]})
		if err == nil || !strings.Contains(err.Error(), env) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", env, err)
		}
	}
}
