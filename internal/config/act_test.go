package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestActSettings(t *testing.T) {
	const key = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaA==" // 34 bytes
	c, err := Load(env(map[string]string{"SPRESPONDER_ACT_URL": "https://func.example.net/", "SPRESPONDER_ACT_KEY": key,
		"SPRESPONDER_ACT_GROUP": "0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Act.URL != "https://func.example.net" || len(c.Act.Key) != 34 || c.Act.TTL != 24*time.Hour || c.Act.Group != "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d" {
		t.Fatalf("%+v", c.Act)
	}
	found := false
	for _, s := range c.Secrets() {
		found = found || s == key
	}
	if !found {
		t.Fatal("the signing key is not among the secrets the log check looks for")
	}
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"SPRESPONDER_ACT_URL": "https://func.example.net"}, "SPRESPONDER_ACT_KEY: required"},
		{map[string]string{"SPRESPONDER_ACT_URL": "http://func.example.net", "SPRESPONDER_ACT_KEY": key}, "SPRESPONDER_ACT_URL"},
		{map[string]string{"SPRESPONDER_ACT_KEY": "c2hvcnQ="}, "5 bytes, want at least 32"},
		{map[string]string{"SPRESPONDER_ACT_KEY": "not base64!"}, "not base64"},
		{map[string]string{"SPRESPONDER_ACT_TTL": "30d"}, "SPRESPONDER_ACT_TTL"},
		{map[string]string{"SPRESPONDER_ACT_GROUP": "security"}, "SPRESPONDER_ACT_GROUP"},
		{map[string]string{"SPRESPONDER_ACT_KEY_PREVIOUS": key}, "set only with SPRESPONDER_ACT_KEY"},
	} {
		_, err := Load(env(tc.vars))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.vars, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "c2hvcnQ") {
			t.Errorf("an error echoes a key: %v", err)
		}
	}
}

func TestActConfigPrintsNoKey(t *testing.T) {
	const key = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaA=="
	c, err := Load(env(map[string]string{"SPRESPONDER_ACT_KEY": key}))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%+v", c), fmt.Sprintf("%v", c.Act), fmt.Sprint(c)} {
		if strings.Contains(s, key) || strings.Contains(s, "65 66 67") {
			t.Fatalf("the key is printed: %s", s)
		}
	}
}
