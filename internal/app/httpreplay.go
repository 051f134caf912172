package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/config"
	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/intake"
	"github.com/spresponder/spresponder/internal/quarantine"
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
	nets *networks
	log  *zap.Logger
	now  func() time.Time
	// keeper stores bad input of executed replays (the ledger); plans keep
	// theirs in a scratch directory that goes away with the request.
	keeper quarantine.Keeper
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

func (h httpReplayer) Replay(ctx context.Context, body []byte, query map[string]string) (int, []byte) {
	fail := func(status int, err error) (int, []byte) {
		b, _ := json.Marshal(replayAnswer{Error: err.Error()})
		return status, b
	}
	execute := query["execute"] == "true"
	operator := query["operator"]
	if execute && operator == "" {
		return fail(http.StatusBadRequest, errors.New("execute=true needs operator=<your name>: it goes into the audit trail"))
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
		out, err := respondTo(ctx, h.cfg, h.log, h.now, res.Signals, execute, operator)
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
