package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2/checkpoints"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/spresponder/spresponder/internal/ehfaketest"
	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/ledger"
)

// lockedBuffer is a process's output, written by exec's copier goroutine
// while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startEHFake starts tools/ehfake with an empty hub "entra" of the given
// partitions and returns its emulator connection string. It skips (fails
// when SPRESPONDER_REQUIRE_EHFAKE is set) when the fake cannot start.
func startEHFake(tb testing.TB, partitions int) string {
	tb.Helper()
	parts := map[string][]ehfaketest.Event{}
	for i := range partitions {
		parts[strconv.Itoa(i)] = []ehfaketest.Event{}
	}
	return startEHFakeWith(tb, parts)
}

// startEHFakeWith starts tools/ehfake with hub "entra" holding parts.
func startEHFakeWith(tb testing.TB, parts map[string][]ehfaketest.Event) string {
	tb.Helper()
	return ehfaketest.Start(tb, ehfaketest.Fixture{Hub: "entra", Partitions: parts})
}

// consumer is one `spresponder consume` process.
type consumer struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

func startConsume(tb testing.TB, name string, env map[string]string) *consumer {
	tb.Helper()
	cmd := exec.Command(binary, "consume")
	cmd.Env = []string{"HOME=" + os.Getenv("HOME"), "PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := &consumer{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-c.done
		}
		if tb.Failed() {
			tb.Logf("consume %s output (tail):\n%s", name, tail(out.String(), 8000))
		}
	})
	return c
}

// logLine is the part of a consume log line the tests read.
type logLine struct {
	Msg         string `json:"msg"`
	Partition   string `json:"partition"`
	Records     int    `json:"records"`
	Signals     int    `json:"signals"`
	Quarantined int    `json:"quarantined"`
	Events      int    `json:"events"`
}

func (c *consumer) lines() []logLine {
	var out []logLine
	for l := range strings.Lines(c.out.String()) {
		var ll logLine
		if json.Unmarshal([]byte(l), &ll) == nil && ll.Msg != "" {
			out = append(out, ll)
		}
	}
	return out
}

// owned is the set of partitions the process's log says it holds now.
func (c *consumer) owned() map[string]bool {
	own := map[string]bool{}
	for _, l := range c.lines() {
		switch l.Msg {
		case "partition claimed":
			own[l.Partition] = true
		case "partition taken over by another instance":
			delete(own, l.Partition)
		}
	}
	return own
}

func waitFor(tb testing.TB, what string, d time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkpointStore opens the consumers' checkpoint container on Azurite.
func checkpointStore(tb testing.TB, blobURL, name string) *checkpoints.BlobStore {
	tb.Helper()
	cc, err := container.NewClientFromConnectionString(ledger.AzuriteConnectionString(blobURL), name, nil)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := checkpoints.NewBlobStore(cc, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// checkpointed returns the checkpointed sequence number per partition.
func checkpointed(tb testing.TB, s *checkpoints.BlobStore, conn string) map[string]int64 {
	tb.Helper()
	p, err := azeventhubs.ParseConnectionString(conn)
	if err != nil {
		tb.Fatal(err)
	}
	cps, err := s.ListCheckpoints(context.Background(), p.FullyQualifiedNamespace, "entra", "spresponder", nil)
	if err != nil {
		return nil // the container may not exist yet
	}
	out := map[string]int64{}
	for _, cp := range cps {
		if cp.SequenceNumber != nil {
			out[cp.PartitionID] = *cp.SequenceNumber
		}
	}
	return out
}

// producer sends event bodies to a partition with the real ProducerClient.
type producer struct {
	client *azeventhubs.ProducerClient
	mu     sync.Mutex
	sent   map[string]int64 // partition -> events sent
}

func newProducer(tb testing.TB, conn string) *producer {
	tb.Helper()
	pc, err := azeventhubs.NewProducerClientFromConnectionString(conn, "entra", nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = pc.Close(context.Background()) })
	return &producer{client: pc, sent: map[string]int64{}}
}

func (p *producer) send(tb testing.TB, partition string, bodies []string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	batch, err := p.client.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &partition})
	if err != nil {
		tb.Fatal(err)
	}
	for _, b := range bodies {
		if err := batch.AddEventData(&azeventhubs.EventData{Body: []byte(b)}, nil); err != nil {
			tb.Fatal(err)
		}
	}
	if err := p.client.SendEventDataBatch(ctx, batch, nil); err != nil {
		tb.Fatal(err)
	}
	p.mu.Lock()
	p.sent[partition] += int64(len(bodies))
	p.mu.Unlock()
}

// benignEvent is a batch of records no rule acts on: a user sign-in
// (skipped by category) and a service-principal sign-in that succeeded.
func benignEvent(i int) string {
	b, _ := json.Marshal(map[string]any{"records": []any{
		map[string]any{"category": "SignInLogs", "tenantId": tenant, "properties": map[string]any{"id": fmt.Sprint("u", i)}},
		map[string]any{"category": "NonInteractiveUserSignInLogs", "tenantId": tenant, "properties": map[string]any{}},
	}})
	return string(b)
}

// consumeEnv is the environment of consume processes on ehfake and Azurite.
func consumeEnv(w *world, conn, checkpoints string) map[string]string {
	env := map[string]string{}
	for k, v := range w.env {
		env[k] = v
	}
	for k, v := range map[string]string{
		"SPRESPONDER_HUB_CONNECTION_STRING":        conn,
		"SPRESPONDER_CONSUME_HUB":                  "entra",
		"SPRESPONDER_CONSUME_CONSUMER_GROUP":       "spresponder",
		"SPRESPONDER_CONSUME_CHECKPOINT_CONTAINER": checkpoints,
		"SPRESPONDER_CONSUME_START":                "earliest",
		"SPRESPONDER_CONSUME_UPDATE_INTERVAL":      "500ms",
		"SPRESPONDER_CONSUME_OWNERSHIP_EXPIRY":     "3s",
		"SPRESPONDER_CONSUME_MAX_WAIT":             "100ms",
		"SPRESPONDER_CONSUME_BATCH_SIZE":           "8",
		"SPRESPONDER_CONSUME_SWEEP_INTERVAL":       "2s",
		// Leases of a run left by a killed process expire after 4s and the
		// survivor's Sweep resumes it.
		"SPRESPONDER_STAGE_DEADLINE": "2s",
		"SPRESPONDER_RECONCILE":      "false",
		"SPRESPONDER_LOG_LEVEL":      "info",
	} {
		env[k] = v
	}
	return env
}

// TestTwoConsumersShareTheHubExactlyOnce: two `spresponder consume`
// processes (the real binary) share a hub of two partitions on tools/ehfake
// through the azeventhubs Processor, with ownership and checkpoints on
// Azurite. The real ProducerClient sends leaked-credential detections (each
// twice, as Entra republishes, once to each partition), benign records and a
// malformed event while one consumer is killed with SIGKILL mid-stream. The
// other takes its partition over after the ownership expiry and reads it
// again from the dead one's last checkpoint. Every leaked key is removed
// exactly once in the simulated tenant, each incident is in the ledger
// once, nothing is missed, the malformed event is quarantined, and both
// partitions end checkpointed at their last event.
func TestTwoConsumersShareTheHubExactlyOnce(t *testing.T) {
	ep := azurite.BlobEndpoint(t)
	conn := startEHFake(t, 2)
	const apps = 24
	// This test is about sharing partitions, not Graph's quota: at the
	// production 1 request/s, 24 incidents' verify reads alone take most
	// of a minute. The tenant's limit is raised, each process gets half
	// of it, and the tenant still counts what it throttles (zero, below).
	// BenchmarkStorm and the playbook tests hold the production limit.
	w := newWorldWith(t, apps, ep, []graphsim.Option{graphsim.WithThrottle(40, 20)})
	cpContainer := fmt.Sprintf("cp-%d", rand.IntN(1<<30))
	env := consumeEnv(w, conn, cpContainer)
	env["SPRESPONDER_RISK_API_RATE"], env["SPRESPONDER_RISK_API_BURST"] = "20", "10"

	a := startConsume(t, "A", env)
	waitFor(t, "A to claim both partitions", 20*time.Second, func() bool { return len(a.owned()) == 2 })
	b := startConsume(t, "B", env)
	waitFor(t, "B to take one partition from A", 20*time.Second, func() bool {
		return len(a.owned()) == 1 && len(b.owned()) == 1
	})
	var victimPartition string
	for p := range a.owned() {
		victimPartition = p
	}

	prod := newProducer(t, conn)
	// The stream: per round, on each partition, a few benign events and
	// one leak detection; each leak goes to both partitions (Entra
	// republishes), so the survivor sees every leak at least twice.
	leaks := make([]string, apps)
	for i, app := range w.apps {
		leaks[i] = leakEvent(app)
	}
	sendRound := func(i int) {
		for _, p := range []string{"0", "1"} {
			prod.send(t, p, []string{benignEvent(i), leaks[i], benignEvent(i + 1000), benignEvent(i + 2000)})
		}
	}
	prod.send(t, "1", []string{"this is not JSON {"})
	for i := range apps / 2 {
		sendRound(i)
		time.Sleep(40 * time.Millisecond)
	}
	// Kill A once it has made progress on its partition (a checkpoint) but
	// not all of it: the rest of what it was sent, and what comes next,
	// only B can handle.
	cps := checkpointStore(t, ep, cpContainer)
	waitFor(t, "A to checkpoint some of its partition", 20*time.Second, func() bool {
		_, ok := checkpointed(t, cps, conn)[victimPartition]
		return ok
	})
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	killedAt := checkpointed(t, cps, conn)[victimPartition]
	for i := apps / 2; i < apps; i++ {
		sendRound(i)
		time.Sleep(40 * time.Millisecond)
	}
	waitFor(t, "B to take over the dead consumer's partition", 20*time.Second, func() bool { return len(b.owned()) == 2 })

	// Every event sent is checkpointed: the last sequence number of each
	// partition is the count sent minus one.
	waitFor(t, "both partitions checkpointed at their last event", 30*time.Second, func() bool {
		got := checkpointed(t, cps, conn)
		return got["0"] == prod.sent["0"]-1 && got["1"] == prod.sent["1"]-1
	})
	waitFor(t, "every leaked key removed", 20*time.Second, func() bool { return len(w.removals()) == apps })
	got := w.removals()
	for _, app := range w.apps {
		if got[app.KeyID] != 1 {
			t.Errorf("key %s of app %s removed %d times, want once", app.KeyID, app.AppID, got[app.KeyID])
		}
	}
	if n := w.sim.Throttled(); n != 0 {
		t.Errorf("the simulated tenant throttled %d request(s): the two processes' shares let them through", n)
	}
	// Each incident once in the ledger.
	perApp := map[string]int{}
	for _, in := range listIncidents(t, w.env) {
		perApp[in.Key.AppID]++
	}
	for _, app := range w.apps {
		if perApp[app.AppID] != 1 {
			t.Errorf("app %s: %d incidents in the ledger, want 1", app.AppID, perApp[app.AppID])
		}
	}
	if len(perApp) != apps {
		t.Errorf("incidents for %d apps, want %d: %v", len(perApp), apps, perApp)
	}
	quarantined := 0
	for _, c := range []*consumer{a, b} {
		for _, l := range c.lines() {
			if l.Msg == "batch" {
				quarantined += l.Quarantined
			}
		}
	}
	if quarantined == 0 {
		t.Error("the malformed event was not quarantined by either consumer")
	}
	if u := w.sim.Unexpected(); len(u) != 0 {
		t.Errorf("unexpected Graph requests: %+v", u)
	}
	// B ends with a clean stop: SIGTERM, exit 0, partitions given up.
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.done:
	case <-time.After(20 * time.Second):
		t.Fatal("B did not stop within 20s of SIGTERM")
	}
	if code := b.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("B exited %d after SIGTERM, want 0", code)
	}
	t.Logf("A killed with partition %s checkpointed at %d of %d; sent %v; B's log: %d lines", victimPartition, killedAt, prod.sent[victimPartition]-1, prod.sent, len(b.lines()))
}

// ledgerIncident is the part of `incidents list --format json` the tests read.
type ledgerIncident struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Key   struct {
		AppID string `json:"appId"`
	} `json:"key"`
}

func listIncidents(tb testing.TB, env map[string]string) []ledgerIncident {
	tb.Helper()
	list := exec.Command(binary, "incidents", "list", "--format", "json")
	for k, v := range env {
		list.Env = append(list.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	list.Stderr = &stderr
	b, err := list.Output()
	if err != nil {
		tb.Fatalf("incidents list: %v\n%s", err, stderr.String())
	}
	var out []ledgerIncident
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var in ledgerIncident
		if err := dec.Decode(&in); err != nil {
			if !errors.Is(err, io.EOF) {
				tb.Fatalf("incidents list: %v\n%s", err, b)
			}
			break
		}
		if in.ID != "" {
			out = append(out, in)
		}
	}
	return out
}

// TestConsumeCheckpointsOnlyDurableBatches: with the ledger unreachable, a
// consumer that receives a leak detection neither acts on it nor moves the
// partition's checkpoint past it (a takeover then would lose it); it retries
// the batch in place, and once the ledger is back the leak is claimed, the
// key removed once, and only then the checkpoint written.
func TestConsumeCheckpointsOnlyDurableBatches(t *testing.T) {
	ep := azurite.BlobEndpoint(t)
	conn := startEHFake(t, 1)
	px := newProxy(t, strings.TrimPrefix(strings.TrimSuffix(ep, "/devstoreaccount1"), "http://"))
	w := newWorld(t, 1, "http://"+px.addr+"/devstoreaccount1")
	cpContainer := fmt.Sprintf("cp-%d", rand.IntN(1<<30))
	env := consumeEnv(w, conn, cpContainer)
	// Checkpoints stay reachable: only the ledger goes away.
	env["SPRESPONDER_CONSUME_CHECKPOINT_ACCOUNT_URL"] = ep
	env["SPRESPONDER_CONSUME_SWEEP_INTERVAL"] = "0s"
	c := startConsume(t, "C", env)
	waitFor(t, "C to claim the partition", 20*time.Second, func() bool { return len(c.owned()) == 1 })
	prod := newProducer(t, conn)
	cps := checkpointStore(t, ep, cpContainer)

	prod.send(t, "0", []string{benignEvent(0)})
	waitFor(t, "the benign event checkpointed", 20*time.Second, func() bool {
		seq, ok := checkpointed(t, cps, conn)["0"]
		return ok && seq == 0
	})
	px.setDown(true)
	prod.send(t, "0", []string{leakEvent(w.apps[0])})
	waitFor(t, "the batch to fail for want of the ledger", 20*time.Second, func() bool {
		return strings.Contains(c.out.String(), "batch not durable: retrying in place")
	})
	time.Sleep(1500 * time.Millisecond) // more attempts, none of which may checkpoint
	if seq := checkpointed(t, cps, conn)["0"]; seq != 0 {
		t.Fatalf("checkpoint moved to %d while the batch was not durable", seq)
	}
	if len(w.removals()) != 0 {
		t.Fatal("a write happened without a ledger record")
	}
	px.setDown(false)
	waitFor(t, "the leak checkpointed once the ledger is back", 30*time.Second, func() bool {
		return checkpointed(t, cps, conn)["0"] == 1
	})
	waitFor(t, "the leaked key removed", 10*time.Second, func() bool { return len(w.removals()) == 1 })
	if got := w.removals()[w.apps[0].KeyID]; got != 1 {
		t.Fatalf("key removed %d times, want once", got)
	}
}

// TestStaleOwnerDoesNotMoveTheCheckpointBack: a consumer is slow on a batch
// (Graph answers a removal after 4s) when another takes the partition
// over, reads it again from the start, and checkpoints it at its end. The
// old owner then finishes its batch: its checkpoint, behind the new one,
// must not replace it (that would make the next takeover read everything
// since again).
func TestStaleOwnerDoesNotMoveTheCheckpointBack(t *testing.T) {
	ep := azurite.BlobEndpoint(t)
	w := newWorld(t, 2, ep)
	if err := w.sim.AddFault(graphsim.Fault{Route: "POST /applications/*/removePassword", Kind: graphsim.FaultLatency, Delay: graphsim.Duration(4 * time.Second), Times: 2}); err != nil {
		t.Fatal(err)
	}
	// Each partition: a leak, then benign events; the first batch (8
	// events) holds the slow leak.
	parts := map[string][]ehfaketest.Event{}
	at := time.Now().Add(-time.Minute)
	for p, app := range w.apps {
		pid := strconv.Itoa(p)
		parts[pid] = append(parts[pid], ehfaketest.Event{Body: leakEvent(app), EnqueuedTime: at})
		for i := range 11 {
			parts[pid] = append(parts[pid], ehfaketest.Event{Body: benignEvent(i), EnqueuedTime: at})
		}
	}
	conn := startEHFakeWith(t, parts)
	cpContainer := fmt.Sprintf("cp-%d", rand.IntN(1<<30))
	env := consumeEnv(w, conn, cpContainer)
	env["SPRESPONDER_CONSUME_SWEEP_INTERVAL"] = "0s"
	delete(env, "SPRESPONDER_STAGE_DEADLINE")
	a := startConsume(t, "A", env)
	waitFor(t, "A to claim both partitions", 20*time.Second, func() bool { return len(a.owned()) == 2 })
	b := startConsume(t, "B", env)
	waitFor(t, "B to take a partition from A", 20*time.Second, func() bool { return len(b.owned()) == 1 })
	var stolen string
	for p := range b.owned() {
		stolen = p
	}
	cps := checkpointStore(t, ep, cpContainer)
	waitFor(t, "B to checkpoint the partition at its end", 30*time.Second, func() bool {
		return checkpointed(t, cps, conn)[stolen] == 11
	})
	// A's batch of that partition ends once its removal is answered.
	waitFor(t, "both keys removed", 30*time.Second, func() bool { return len(w.removals()) == 2 })
	waitFor(t, "A to finish its batch of the stolen partition", 20*time.Second, func() bool {
		for _, l := range a.lines() {
			if l.Msg == "batch" && l.Partition == stolen {
				return true
			}
		}
		return false
	})
	time.Sleep(500 * time.Millisecond)
	if got := checkpointed(t, cps, conn)[stolen]; got != 11 {
		t.Fatalf("partition %s checkpoint is %d after the old owner finished, want 11 (the new owner's)", stolen, got)
	}
	if got := w.removals(); len(got) != 2 || got[w.apps[0].KeyID] != 1 || got[w.apps[1].KeyID] != 1 {
		t.Fatalf("removals %v, want each key once", got)
	}
}
