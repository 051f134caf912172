package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/config"
	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/intake"
	"github.com/spresponder/spresponder/internal/quarantine"
	"github.com/spresponder/spresponder/internal/redact"
	"github.com/spresponder/spresponder/internal/replay"
	"github.com/spresponder/spresponder/internal/server"
)

// httpReplayer serves the Replay HTTP function: on-call posts event bodies
// (a replay file's content) and gets the signals and the plan back, or,
// with ?execute=true&operator=NAME, the executed incidents. It is the CLI's
// replay for people who have the function key but not the ledger's and
// Graph's credentials on their laptop.
type httpReplayer struct {
	cfg  config.Config
	nets *capolicy.Networks
	log  *zap.Logger
	now  func() time.Time
	// keeper stores bad input of executed replays (the ledger); plans keep
	// theirs in a scratch directory that goes away with the request.
	keeper quarantine.Keeper
	// sys is serve's system, whose Graph client and ledger each replay
	// reuses.
	sys *system
}

type replayAnswer struct {
	Mode      string               `json:"mode"` // plan or execute
	Operator  string               `json:"operator,omitempty"`
	Stats     intake.Stats         `json:"stats"`
	Signals   []detect.Signal      `json:"signals"`
	Claimed   []string             `json:"claimed,omitempty"`
	Known     []string             `json:"alreadyKnown,omitempty"`
	Ignored   int                  `json:"ignored"`
	Incidents []*incident.Incident `json:"incidents"`
	Error     string               `json:"error,omitempty"`
}

func (h httpReplayer) Replay(ctx context.Context, req server.ReplayRequest) (int, []byte) {
	fail := func(status int, err error) (int, []byte) {
		b, _ := json.Marshal(replayAnswer{Error: err.Error()})
		return status, b
	}
	body, query := req.Body, req.Query
	execute := query["execute"] == "true"
	caller := replayCaller(req.Headers, h.cfg.EasyAuth)
	// The operator text is a label a caller types; who called is what the
	// platform says.
	label := strings.TrimSpace(query["operator"])
	operator := caller
	if label != "" {
		operator = caller + " (label: " + redact.Label(label) + ")"
	}
	if execute && !h.cfg.Enforce && !h.cfg.ReplayExecute {
		// The mode is the service's: nothing a caller sends turns dry-run
		// into enforce.
		return fail(http.StatusForbidden, errors.New("execute=true refused: the service runs in dry-run (SPRESPONDER_MODE), and SPRESPONDER_REPLAY_EXECUTE does not allow replays to execute; ask for the plan, or run spresponder replay --execute with the ledger's and Graph's credentials"))
	}
	events, err := replay.Events(body, server.EventsBinding)
	if err != nil {
		return fail(http.StatusBadRequest, err)
	}
	keeper := h.keeper
	if !execute {
		dir, err := os.MkdirTemp("", "spresponder-plan-quarantine-")
		if err != nil {
			return fail(http.StatusInternalServerError, err)
		}
		defer os.RemoveAll(dir)
		keeper = quarantine.Dir{Path: dir}
	}
	res, err := newIntake(h.cfg, keeper, h.nets, h.log, h.now).Process(ctx, events)
	if err != nil {
		return fail(http.StatusInternalServerError, err)
	}
	ans := replayAnswer{Mode: "plan", Operator: operator, Stats: res.Stats, Signals: res.Signals, Incidents: []*incident.Incident{}}
	if execute {
		ans.Mode = "execute"
	}
	if len(res.Signals) > 0 {
		out, err := respondTo(ctx, h.cfg, h.log, h.now, res.Signals, execute, operator, h.sys)
		if err != nil {
			return fail(http.StatusInternalServerError, err)
		}
		ans.Claimed, ans.Known, ans.Ignored, ans.Incidents = out.Claimed, out.Duplicates, out.Ignored, out.Incidents
	}
	b, err := json.Marshal(ans)
	if err != nil {
		return fail(http.StatusInternalServerError, err)
	}
	return http.StatusOK, b
}

// replayCaller names who called the Replay function, from what the
// platform passes. With App Service Authentication on (WEBSITE_AUTH_ENABLED),
// the platform sets X-MS-CLIENT-PRINCIPAL-NAME / -ID and strips them from
// outside requests; with it off, anyone holding the function key can send
// them, so they are not trusted and the caller is the function key holder
// at a client address.
func replayCaller(headers map[string][]string, easyAuth bool) string {
	addr := clientAddress(headers)
	if p, ok := signedIn(headers, easyAuth); ok {
		return fmt.Sprintf("%s (principal %s, signed in) from %s", redact.Label(cmp.Or(p.name, "?")), redact.Label(cmp.Or(p.id, "?")), redact.Label(addr))
	}
	return "function key holder from " + redact.Label(addr)
}
