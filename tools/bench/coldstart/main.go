// Command coldstart measures how long a custom handler takes from exec to
// its first answer on GET /, the way the Functions host waits for it, and
// how much memory it holds right after: it starts the command N times, each
// with a fresh loopback port in FUNCTIONS_CUSTOMHANDLER_PORT, dials the port
// in a tight loop until an HTTP response (any status) comes back, reads
// VmRSS from /proc/<pid>/status, and stops the process. It prints one JSON
// line with the median and 95th percentile.
//
//	coldstart -name spresponder -n 20 -- bin/spresponder serve
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// current is the process group being measured, for the interrupt handler.
var current atomic.Pointer[int32]

type result struct {
	Name      string    `json:"name"`
	Runs      int       `json:"runs"`
	MedianMs  float64   `json:"median_ms"`
	P95Ms     float64   `json:"p95_ms"`
	MinMs     float64   `json:"min_ms"`
	MedianRSS float64   `json:"median_rss_mb"`
	P95RSS    float64   `json:"p95_rss_mb"`
	StartMs   []float64 `json:"start_ms"`
	RSSMB     []float64 `json:"rss_mb"`
}

func main() {
	name := flag.String("name", "", "label for the output")
	n := flag.Int("n", 20, "number of starts")
	timeout := flag.Duration("timeout", 30*time.Second, "give up on a start after this long")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: coldstart [-name N] [-n 20] -- command [args...]")
		os.Exit(2)
	}
	if *name == "" {
		*name = args[0]
	}
	// On an interrupt, stop the handler being measured (it runs in its own
	// process group, so the terminal's signal does not reach it) and quit.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		if p := current.Load(); p != nil {
			_ = syscall.Kill(-int(*p), syscall.SIGKILL)
		}
		os.Exit(130)
	}()
	res := result{Name: *name, Runs: *n}
	for i := 0; i < *n; i++ {
		ms, rss, err := once(args, *timeout)
		if err != nil {
			fmt.Fprintf(os.Stderr, "coldstart %s: run %d: %v\n", *name, i, err)
			os.Exit(1)
		}
		res.StartMs = append(res.StartMs, round(ms))
		res.RSSMB = append(res.RSSMB, round(rss))
	}
	res.MedianMs, res.P95Ms, res.MinMs = pct(res.StartMs, 50), pct(res.StartMs, 95), slices.Min(res.StartMs)
	res.MedianRSS, res.P95RSS = pct(res.RSSMB, 50), pct(res.RSSMB, 95)
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// pct is the nearest-rank percentile.
func pct(xs []float64, p int) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	k := (p*len(s) + 99) / 100
	if k < 1 {
		k = 1
	}
	return s[k-1]
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// once starts the command and returns the milliseconds to its first answer
// and its resident memory then, in MB.
func once(args []string, timeout time.Duration) (float64, float64, error) {
	port, err := freePort()
	if err != nil {
		return 0, 0, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port))
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = nil, &errOut // stdout is discarded; stderr is shown if the start fails
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	pid := int32(cmd.Process.Pid)
	current.Store(&pid)
	defer current.Store(nil)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer stop(cmd, done)
	deadline := t0.Add(timeout)
	for {
		if ok := ask(addr); ok {
			break
		}
		select {
		case err := <-done:
			done <- err
			return 0, 0, fmt.Errorf("exited before answering: %v\n%s", err, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			return 0, 0, errors.New("no answer before the timeout")
		}
		time.Sleep(50 * time.Microsecond)
	}
	elapsed := time.Since(t0)
	rss, err := vmRSS(cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	return float64(elapsed.Microseconds()) / 1000, rss, nil
}

// ask dials addr and sends GET /; it reports whether an HTTP response came
// back (any status: the host only needs the handler to answer).
func ask(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n\r\n")); err != nil {
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

func vmRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc/<pid>/status")
}

// stop ends the process group it started: SIGTERM, then SIGKILL.
func stop(cmd *exec.Cmd, done chan error) {
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
}
