// Package config reads the responder's settings from the environment (in
// Azure: the Function App's application settings). It is strict: every
// SPRESPONDER_* variable must be one this package knows, values are checked
// once, here, with cross-field rules, and an error names the setting and
// how to fix it. A typo in a kill switch must stop the process, not be
// ignored.
package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Setting documents one application setting. The README's table is
// generated from the same list (TestREADMEListsEverySetting keeps them in
// step).
type Setting struct {
	Name    string
	Default string
	Meaning string
}

// Settings lists every setting the responder reads.
var Settings = []Setting{
	{"FUNCTIONS_CUSTOMHANDLER_PORT", "(set by the host)", "Loopback port the Functions host expects the handler on; `serve --port` overrides it."},
	{"SPRESPONDER_MODE", "dry-run", "`dry-run` plans and records every write without making it; `enforce` makes the writes. Dry-run until a person switches it."},
	{"SPRESPONDER_KILL_SWITCH", "false", "`true` stops every write to the tenant at once (notifications still go out). Changing an app setting restarts the app: no redeploy."},
	{"SPRESPONDER_TENANTS", "(empty)", "Comma-separated tenant ids whose records are acted on; records of other tenants are quarantined. Required in enforce mode."},
	{"SPRESPONDER_MAX_EVENT_BYTES", "2097152", "Largest event body processed; larger events are quarantined whole."},
	{"SPRESPONDER_FAILED_SECRET_THRESHOLD", "3", "Failed client-secret sign-ins of one key within a batch that make a failedSecretSignIns signal."},
	{"SPRESPONDER_FAILED_SECRET_CODES", "7000215,7000222", "Sign-in error codes that mean an invalid or expired client secret."},
	{"SPRESPONDER_STATE_DIR", ".spresponder", "Local directory for the embedded ledger and quarantine (CLI, demo, local runs)."},
	{"SPRESPONDER_LOG_LEVEL", "info", "debug, info, warn or error. Logs are JSON on stdout (the host records stderr as errors)."},
	{"SPRESPONDER_SHUTDOWN_TIMEOUT", "30s", "How long SIGTERM waits for invocations in flight."},
}

// Config is the validated configuration.
type Config struct {
	Port                  int
	Enforce               bool
	KillSwitch            bool
	Tenants               []string
	MaxEventBytes         int
	FailedSecretThreshold int
	FailedSecretCodes     []int
	StateDir              string
	LogLevel              string
	ShutdownTimeout       time.Duration
}

// Getenv is the lookup Load reads through (os.LookupEnv in production).
type Getenv func(string) (string, bool)

// Environ lists variable names, for the unknown-setting check.
type Environ func() []string

// FromOS returns the process environment accessors.
func FromOS() (Getenv, Environ) { return os.LookupEnv, os.Environ }

// Load reads and validates the configuration.
func Load(get Getenv, environ Environ) (Config, error) {
	var errs []error
	known := map[string]bool{}
	for _, s := range Settings {
		known[s.Name] = true
	}
	for _, kv := range environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "SPRESPONDER_") && !known[name] {
			errs = append(errs, fmt.Errorf("%s: unknown setting (known: %s)", name, knownList()))
		}
	}
	val := func(name string) string {
		if v, ok := get(name); ok {
			return strings.TrimSpace(v)
		}
		for _, s := range Settings {
			if s.Name == name && !strings.HasPrefix(s.Default, "(") {
				return s.Default
			}
		}
		return ""
	}
	c := Config{StateDir: val("SPRESPONDER_STATE_DIR"), LogLevel: strings.ToLower(val("SPRESPONDER_LOG_LEVEL"))}

	if p := val("FUNCTIONS_CUSTOMHANDLER_PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("FUNCTIONS_CUSTOMHANDLER_PORT=%q: want a TCP port number", p))
		}
		c.Port = n
	}
	switch m := strings.ToLower(val("SPRESPONDER_MODE")); m {
	case "dry-run", "dryrun":
	case "enforce":
		c.Enforce = true
	default:
		errs = append(errs, fmt.Errorf("SPRESPONDER_MODE=%q: want dry-run or enforce", m))
	}
	ks, err := strconv.ParseBool(val("SPRESPONDER_KILL_SWITCH"))
	if err != nil {
		errs = append(errs, fmt.Errorf("SPRESPONDER_KILL_SWITCH=%q: want true or false", val("SPRESPONDER_KILL_SWITCH")))
	}
	c.KillSwitch = ks
	for _, t := range strings.Split(val("SPRESPONDER_TENANTS"), ",") {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" {
			continue
		}
		if !isGUID(t) {
			errs = append(errs, fmt.Errorf("SPRESPONDER_TENANTS: %q is not a tenant id (a GUID)", t))
			continue
		}
		c.Tenants = append(c.Tenants, t)
	}
	if c.Enforce && len(c.Tenants) == 0 {
		errs = append(errs, errors.New("SPRESPONDER_TENANTS: required when SPRESPONDER_MODE=enforce (the responder must know whose credentials it may remove)"))
	}
	c.MaxEventBytes = intSetting(&errs, val, "SPRESPONDER_MAX_EVENT_BYTES", 1024, 1<<30)
	c.FailedSecretThreshold = intSetting(&errs, val, "SPRESPONDER_FAILED_SECRET_THRESHOLD", 1, 1_000_000)
	for _, s := range strings.Split(val("SPRESPONDER_FAILED_SECRET_CODES"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("SPRESPONDER_FAILED_SECRET_CODES: %q is not an error code", s))
			continue
		}
		c.FailedSecretCodes = append(c.FailedSecretCodes, n)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		errs = append(errs, fmt.Errorf("SPRESPONDER_LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel))
	}
	d, err := time.ParseDuration(val("SPRESPONDER_SHUTDOWN_TIMEOUT"))
	if err != nil || d <= 0 {
		errs = append(errs, fmt.Errorf("SPRESPONDER_SHUTDOWN_TIMEOUT=%q: want a positive duration such as 30s", val("SPRESPONDER_SHUTDOWN_TIMEOUT")))
	}
	c.ShutdownTimeout = d
	return c, errors.Join(errs...)
}

func intSetting(errs *[]error, val func(string) string, name string, lo, hi int) int {
	n, err := strconv.Atoi(val(name))
	if err != nil || n < lo || n > hi {
		*errs = append(*errs, fmt.Errorf("%s=%q: want a whole number from %d to %d", name, val(name), lo, hi))
	}
	return n
}

func knownList() string {
	var names []string
	for _, s := range Settings {
		if strings.HasPrefix(s.Name, "SPRESPONDER_") {
			names = append(names, s.Name)
		}
	}
	return strings.Join(names, ", ")
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
