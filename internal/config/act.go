package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// ActConfig is the action links' configuration (internal/act).
type ActConfig struct {
	// URL is the Function App's public base URL; empty: no action links.
	URL string
	// Key signs the links, Previous verifies links signed before a
	// rotation. Secrets: never logged.
	Key, Previous []byte
	// keyText and previousText are the settings as given, for Secrets.
	keyText, previousText string
	TTL                   time.Duration
	// Group is the security group (object id) whose members may decide
	// for any app; empty: owners only.
	Group string
}

// Secrets lists the action links' secret settings as given.
func (a ActConfig) Secrets() []string {
	var out []string
	for _, s := range []string{a.keyText, a.previousText} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// loadAct reads the SPRESPONDER_ACT_* settings. Errors never echo a key.
func loadAct(val func(string) string) (ActConfig, []error) {
	var errs []error
	a := ActConfig{URL: strings.TrimRight(val("SPRESPONDER_ACT_URL"), "/"), Group: strings.ToLower(val("SPRESPONDER_ACT_GROUP"))}
	key := func(name string) ([]byte, string) {
		v := val(name)
		if v == "" {
			return nil, ""
		}
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: not base64 (make one with: openssl rand -base64 32)", name))
			return nil, v
		}
		if len(b) < 32 {
			errs = append(errs, fmt.Errorf("%s: %d bytes, want at least 32 (openssl rand -base64 32)", name, len(b)))
		}
		return b, v
	}
	a.Key, a.keyText = key("SPRESPONDER_ACT_KEY")
	a.Previous, a.previousText = key("SPRESPONDER_ACT_KEY_PREVIOUS")
	if d, err := parseDays(val("SPRESPONDER_ACT_TTL")); err != nil || d < 5*time.Minute || d > 7*24*time.Hour {
		errs = append(errs, fmt.Errorf("SPRESPONDER_ACT_TTL=%q: want a duration from 5m to 7d, such as 24h", val("SPRESPONDER_ACT_TTL")))
	} else {
		a.TTL = d
	}
	if a.Group != "" && !isGUID(a.Group) {
		errs = append(errs, fmt.Errorf("SPRESPONDER_ACT_GROUP=%q: want the security group's object id (a GUID)", a.Group))
	}
	if a.URL != "" {
		u, err := url.Parse(a.URL)
		if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || (u.Scheme != "https" && !(u.Scheme == "http" && u.Hostname() == "127.0.0.1")) {
			errs = append(errs, fmt.Errorf("SPRESPONDER_ACT_URL=%q: want the Function App's https base URL, e.g. https://func-spresponder.azurewebsites.net", a.URL))
		}
		if a.Key == nil {
			errs = append(errs, errors.New("SPRESPONDER_ACT_KEY: required with SPRESPONDER_ACT_URL (the links' signing key, from Key Vault)"))
		}
	}
	if a.Previous != nil && a.Key == nil {
		errs = append(errs, errors.New("SPRESPONDER_ACT_KEY_PREVIOUS: set only with SPRESPONDER_ACT_KEY (it verifies links signed before a rotation)"))
	}
	return a, errs
}

// String keeps the keys out of any printout of the configuration.
func (a ActConfig) String() string {
	return fmt.Sprintf("{URL:%s Key:[%d bytes, redacted] Previous:[%d bytes, redacted] TTL:%s Group:%s}", a.URL, len(a.Key), len(a.Previous), a.TTL, a.Group)
}
