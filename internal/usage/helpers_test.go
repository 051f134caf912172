package usage_test

import (
	"time"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/invocation"
)

func eventsOf(bodies []string) []invocation.Event {
	var out []invocation.Event
	for i, b := range bodies {
		out = append(out, invocation.Event{Body: []byte(b), Pos: invocation.Position{Partition: "0", SequenceNumber: int64(i), Index: i}})
	}
	return out
}

func sigAt(at time.Time, key string) detect.Signal {
	return detect.Signal{Kind: detect.LeakedCredential, KeyIDs: []string{key}, Time: at}
}
