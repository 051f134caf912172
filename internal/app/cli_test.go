package app

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func cliEnv(vars map[string]string) (Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	get := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	environ := func() []string {
		var kv []string
		for k, v := range vars {
			kv = append(kv, k+"="+v)
		}
		return kv
	}
	return Env{Getenv: get, Environ: environ, Stdout: &out, Stderr: &errb, Now: time.Now}, &out, &errb
}

// Every command and subcommand answers --help, -h and "help X" on stdout
// with exit 0, even when the settings are broken (help must work to fix
// them), with a usage line and its flags written with --.
func TestEveryCommandAnswersHelp(t *testing.T) {
	broken := map[string]string{"SPRESPONDER_MODE": "sometimes", "SPRESPONDER_TYPO": "x"}
	for name := range topics {
		args := strings.Fields(name)
		for _, form := range [][]string{append(args, "--help"), append(args, "-h"), append([]string{"help"}, args...)} {
			env, out, errb := cliEnv(broken)
			if code := Main(context.Background(), form, env); code != 0 {
				t.Errorf("%q: exit %d, stderr %s", form, code, errb)
				continue
			}
			s := out.String()
			if !strings.HasPrefix(s, "Usage: spresponder "+args[0]) {
				t.Errorf("%q: help starts %.60q", form, s)
			}
			if strings.Contains(s, "\n  -") && !strings.Contains(s, "\n  --") {
				t.Errorf("%q: flags shown with one dash:\n%s", form, s)
			}
			if strings.Contains(s, "flag: help requested") || strings.Contains(errb.String(), "help requested") {
				t.Errorf("%q: the standard library's message leaked", form)
			}
		}
	}
	env, out, _ := cliEnv(nil)
	if code := Main(context.Background(), []string{"--help"}, env); code != 0 || !strings.Contains(out.String(), "spresponder replay") {
		t.Fatalf("top-level --help: %d %s", code, out)
	}
}

// A usage error exits 2 on stderr and says what to type instead.
func TestUsageErrorsSayWhatToType(t *testing.T) {
	for _, args := range [][]string{
		{"replay", "--bogus"},
		{"incidents", "frobnicate"},
		{"incidents"},
		{"killswitch", "maybe"},
		{"rules", "extra"},
		{"nosuchcommand"},
	} {
		env, out, errb := cliEnv(nil)
		code := Main(context.Background(), args, env)
		if code != 2 || !strings.Contains(errb.String(), "--help") || out.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errb)
		}
	}
}
