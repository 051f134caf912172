package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// The command line behaves like the Go tools people use (gh, kubectl,
// terraform): every command and subcommand answers --help, -h and
// "help X" on stdout with exit 0 (a line of usage, a sentence, the flags
// with their --, examples); a usage error exits 2 on stderr and says what to
// type instead. The standard library's flag package parses; this file is
// the one place that words help.

// topic is one command's help.
type topic struct {
	usage    string
	summary  string
	subs     [][2]string // subcommands of a group: name and what it does
	examples []string
}

var topics = map[string]topic{
	"serve": {
		usage:   "spresponder serve [--port N]",
		summary: "Run as the Azure Functions custom handler: the host posts Event Hubs batches, timer ticks and HTTP requests to it on loopback.",
		examples: []string{
			"FUNCTIONS_CUSTOMHANDLER_PORT=7071 spresponder serve",
		},
	},
	"consume": {
		usage:   "spresponder consume",
		summary: "Consume the Entra event hub without the Functions host (Container Apps, AKS, a VM): the azeventhubs Processor shares the partitions among every running instance through ownership blobs, each batch goes through the same pipeline and ledger as serve, and a partition is checkpointed only once its batch's signals are claimed or quarantined. SIGTERM or SIGINT finishes the batches in hand and gives the partitions up. Settings: SPRESPONDER_CONSUME_* and SPRESPONDER_LEDGER=blob (see README.md).",
		examples: []string{
			"SPRESPONDER_CONSUME_NAMESPACE=contoso-entra.servicebus.windows.net SPRESPONDER_CONSUME_HUB=entra-logs SPRESPONDER_CONSUME_CONSUMER_GROUP=spresponder spresponder consume",
		},
	},
	"replay": {
		usage:   "spresponder replay (--file F | --hub --from T [--to T] | --graph [--since D] | --held | --parked | --incident ID) [flags]",
		summary: "Run events through the responder: a file, a time range of the Event Hub, what Graph lists as changed (as the Sweep's reconcile does), the ledger's held or parked incidents, or a stored incident's signals. It shows the plan and changes nothing unless --execute; a closing line sums up signals, incidents new / already handled and writes planned / done / refused.",
		examples: []string{
			"spresponder replay --file events.ndjson",
			"spresponder replay --file events.ndjson --execute --operator alice",
			"spresponder replay --file events.ndjson --detect-only --format json",
			"spresponder replay --hub --from 2h --consumer-group oncall",
			"spresponder replay --incident inc-0123456789abcdef01234567",
			"spresponder replay --graph --since 24h",
			"spresponder replay --graph --since 6h --execute --operator alice",
			"spresponder replay --parked",
			"spresponder replay --held",
		},
	},
	"incidents": {
		usage:   "spresponder incidents <list|show|redrive|resolve> [flags]",
		summary: "Inspect and act on the incident ledger.",
		subs: [][2]string{
			{"list", "list incidents, newest state first (the shared kill switch is shown on top)"},
			{"show ID", "the whole story of one incident"},
			{"redrive ID", "run its remaining steps now (a held or planned containment is planned again and carried out if every guard allows it)"},
			{"resolve ID --note WHY", "close it with a person's decision, which also holds for later variants of the same (principal, key)"},
		},
		examples: []string{
			"spresponder incidents list --state held,needsHuman --since 24h",
			"spresponder incidents show inc-0123456789abcdef01234567",
			`spresponder incidents resolve inc-0123456789abcdef01234567 --note "rotated by the owner"`,
		},
	},
	"incidents list": {
		usage:    "spresponder incidents list [--state S[,S]] [--app APPID] [--since D] [--format table|json]",
		summary:  "List incidents, oldest first, with the shared kill switch on top.",
		examples: []string{"spresponder incidents list --state held,parked,needsHuman", "spresponder incidents list --app 6131d760-7fda-4db5-8bb1-b771898e9f15 --format json"},
	},
	"incidents show": {
		usage:    "spresponder incidents show ID [--format table|json]",
		summary:  "Show one incident: signals, verification, actions with before and after, the Conditional Access verdict, who was told, the history.",
		examples: []string{"spresponder incidents show inc-0123456789abcdef01234567"},
	},
	"incidents redrive": {
		usage:    "spresponder incidents redrive ID [--operator NAME]",
		summary:  "Run an incident's remaining steps now, after review. The kill switch, the breaker and dry-run still apply.",
		examples: []string{"spresponder incidents redrive inc-0123456789abcdef01234567 --operator alice"},
	},
	"incidents resolve": {
		usage:    `spresponder incidents resolve ID --note "why" [--operator NAME]`,
		summary:  "Close an incident with a person's decision; the decision holds for its (service principal, key) pairs.",
		examples: []string{`spresponder incidents resolve inc-0123456789abcdef01234567 --note "false positive: test fixture"`},
	},
	"investigate": {
		usage:   "spresponder investigate ID [--refresh] [--timeout D] [--format table|json]",
		summary: "What the incident's leaked credential could do: its application permissions, directory roles and delegated grants, each tiered critical, high or normal and its use: every sign-in with the key since the detection, from the hub's retained events and Log Analytics, successes and failures, address, location, resource and Conditional Access result (both recorded after containment; --refresh reads them now).",
		examples: []string{
			"spresponder investigate inc-0123456789abcdef01234567",
			"spresponder investigate inc-0123456789abcdef01234567 --refresh --format json",
		},
	},
	"killswitch": {
		usage:   `spresponder killswitch <on|off|status> [--reason "why"] [--operator NAME]`,
		summary: "The kill switch kept in the shared ledger: on, no instance, replay or redrive writes to the tenant.",
		subs: [][2]string{
			{"status", "show it"},
			{`on --reason "why"`, "stop every write to the tenant, everywhere, at once"},
			{`off --reason "why"`, "allow writes again (SPRESPONDER_MODE still decides dry-run or enforce)"},
		},
		examples: []string{`spresponder killswitch on --reason "forged events in the hub"`, "spresponder killswitch status"},
	},
	"killswitch status": {usage: "spresponder killswitch status", summary: "Show the shared kill switch."},
	"killswitch on": {usage: `spresponder killswitch on --reason "why" [--operator NAME]`, summary: "Stop every write to the tenant on every instance, replay and redrive.",
		examples: []string{`spresponder killswitch on --reason "forged events in the hub"`}},
	"killswitch off": {usage: `spresponder killswitch off --reason "why" [--operator NAME]`, summary: "Allow writes again.",
		examples: []string{`spresponder killswitch off --reason "hub keys rotated"`}},
	"setup": {
		usage:   "spresponder setup --identity ID [--apply] [--enable] [flags]",
		summary: "Grant the managed identity exactly the Graph permissions the enabled rules need, and create the Conditional Access block policy for risky workload identities (report-only unless --enable). Prints the plan; changes only with --apply; running it twice changes nothing.",
		examples: []string{
			"spresponder setup --identity 3f2e1d0c-9b8a-4765-a432-10fedcba9876",
			"spresponder setup --identity 3f2e1d0c-9b8a-4765-a432-10fedcba9876 --apply",
		},
	},
	"check": {
		usage:    "spresponder check [--format table|json] [--timeout D]",
		summary:  "Preflight: credential, Graph permissions, licence, block policy, diagnostic setting, channels, ledger. Exit 1 when something an enabled rule needs is missing.",
		examples: []string{"spresponder check", "spresponder check --format json"},
	},
	"selftest": {
		usage:    "spresponder selftest [--timeout D] [--poll D]",
		summary:  "Send a clearly marked synthetic event through the Event Hub and wait for the deployed responder to record it: finds a function that never fires on day one.",
		examples: []string{"spresponder selftest --timeout 5m"},
	},
	"rules":   {usage: "spresponder rules", summary: "Print the built-in rules file, to start your own.", examples: []string{"spresponder rules > rules.yaml"}},
	"version": {usage: "spresponder version", summary: "Print the version."},
}

// newFlags returns the flag set of a command, parsed with parseFlags. The
// standard library's own usage output is off: help and errors are worded
// here and by Main, once.
func newFlags(name string, _ Env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses a command's flags; -h and --help print the command's
// help to stdout and return flag.ErrHelp, which Main turns into exit 0.
func parseFlags(fs *flag.FlagSet, args []string, env Env) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		writeHelp(env.Stdout, fs.Name(), fs)
	}
	return err
}

// writeHelp prints a command's help: usage, sentence, subcommands, flags
// (with --), examples.
func writeHelp(w io.Writer, name string, fs *flag.FlagSet) {
	t, ok := topics[name]
	if !ok {
		t = topic{usage: "spresponder " + name}
	}
	fmt.Fprintf(w, "Usage: %s\n\n", t.usage)
	if t.summary != "" {
		fmt.Fprintf(w, "%s\n", t.summary)
	}
	if len(t.subs) > 0 {
		fmt.Fprintf(w, "\nCommands:\n")
		width := 0
		for _, s := range t.subs {
			width = max(width, len(s[0]))
		}
		for _, s := range t.subs {
			fmt.Fprintf(w, "  %-*s  %s\n", width, s[0], s[1])
		}
	}
	if fs != nil {
		var lines [][2]string
		width := 0
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			left := "--" + f.Name
			if name != "" {
				left += " " + name
			}
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
				usage += fmt.Sprintf(" (default %s)", f.DefValue)
			}
			width = max(width, len(left))
			lines = append(lines, [2]string{left, usage})
		})
		if len(lines) > 0 {
			fmt.Fprintf(w, "\nFlags:\n")
			for _, l := range lines {
				fmt.Fprintf(w, "  %-*s  %s\n", width, l[0], l[1])
			}
		}
	}
	if len(t.examples) > 0 {
		fmt.Fprintf(w, "\nExamples:\n")
		for _, e := range t.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	if len(t.subs) > 0 {
		fmt.Fprintf(w, "\nRun 'spresponder %s <command> --help' for a command's flags.\n", name)
	}
}

// isHelp reports whether an argument asks for help.
func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" || a == "help" }

// groupHelp answers help for a group command ("incidents",
// "killswitch") asked with no subcommand or with -h/--help/help. "X help
// sub" becomes "X sub --help". It returns the arguments to go on with.
func groupHelp(name string, args []string, env Env) (rest []string, handled bool, err error) {
	if len(args) == 0 {
		writeHelp(env.Stderr, name, nil)
		return nil, true, usageError{fmt.Errorf("a command is required: run 'spresponder %s --help'", name)}
	}
	if isHelp(args[0]) {
		if len(args) > 1 {
			return append(slices.Clone(args[1:]), "--help"), false, nil
		}
		writeHelp(env.Stdout, name, nil)
		return nil, true, flag.ErrHelp
	}
	return args, false, nil
}

// unknownSub is the usage error for a subcommand a group does not have.
func unknownSub(name, sub string) error {
	var known []string
	for _, s := range topics[name].subs {
		known = append(known, strings.Fields(s[0])[0])
	}
	slices.Sort(known)
	return usageError{fmt.Errorf("unknown command %q for %q: one of %s (run 'spresponder %s --help')", sub, name, strings.Join(known, ", "), name)}
}

// exitCode turns a command's error into the exit code, printing it.
func exitCode(cmd string, err error, env Env) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		msg := err.Error()
		if !strings.Contains(msg, "--help") {
			msg += fmt.Sprintf(" (run 'spresponder %s --help')", cmd)
		}
		fmt.Fprintf(env.Stderr, "spresponder %s: %s\n", cmd, msg)
		return 2
	}
	fmt.Fprintf(env.Stderr, "spresponder %s: %v\n", cmd, err)
	return 1
}
