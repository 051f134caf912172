// Package rendercheck drives tools/render, the real-renderer harness: the
// Teams card parsed and rendered by the Adaptive Cards JS library, and the
// email and the report page loaded, in headless Chromium. The notify tests
// use it to fail on any warning or render error, and tools/screenshots to
// take the pictures in docs/img. It writes nothing itself but the job file.
package rendercheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Item is one card, email or page for the harness: a file to check and,
// when PNG is set, where to put its screenshot. Width is the window width
// in CSS pixels (0: the harness's default).
type Item struct {
	Name  string `json:"name"`
	Path  string `json:"path"`
	PNG   string `json:"png,omitempty"`
	Width int    `json:"width,omitempty"`
}

// Job is what the harness checks in one run.
type Job struct {
	Chromium string `json:"chromium"`
	Cards    []Item `json:"cards"`
	Emails   []Item `json:"emails"`
	Pages    []Item `json:"pages"`
}

// CardResult is the harness's finding on one card.
type CardResult struct {
	Name     string         `json:"name"`
	Warnings []string       `json:"warnings"`
	Errors   []string       `json:"errors"`
	Height   int            `json:"height"`
	Width    int            `json:"width"`
	Elements map[string]int `json:"elements"`
}

// DocResult is the harness's finding on one email or page.
type DocResult struct {
	Name   string   `json:"name"`
	Errors []string `json:"errors"`
	Height int      `json:"height"`
	Width  int      `json:"width"`
}

// Result is the harness's report. Failed is true when it exited 1: some
// card, email or page has a warning or an error.
type Result struct {
	Cards  []CardResult `json:"cards"`
	Emails []DocResult  `json:"emails"`
	Pages  []DocResult  `json:"pages"`
	Failed bool         `json:"-"`
}

// ErrMissing is wrapped when Chromium or Node is not installed.
var ErrMissing = errors.New("real renderer unavailable")

// Tools finds Chromium and Node.
func Tools() (chromium, node string, err error) {
	chromium, err = exec.LookPath("chromium")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/chromium"); serr != nil {
			return "", "", fmt.Errorf("%w: chromium not installed (apt-get install -y chromium)", ErrMissing)
		}
		chromium = "/usr/bin/chromium"
	}
	node, err = exec.LookPath("node")
	if err != nil {
		return "", "", fmt.Errorf("%w: node not installed", ErrMissing)
	}
	return chromium, node, nil
}

// Install runs npm ci in the harness directory when its libraries are
// missing.
func Install(ctx context.Context, toolDir string) error {
	if _, err := os.Stat(filepath.Join(toolDir, "node_modules", "adaptivecards", "dist", "adaptivecards.min.js")); err == nil {
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("%s/node_modules is missing and npm is not installed", toolDir)
	}
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = toolDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s: %w\n%s", toolDir, err, out)
	}
	return nil
}

// Run writes the job to dir and runs the harness on it. It returns an
// error when the harness itself failed (it could not start Chromium, its
// report is missing or does not cover every item); findings on the items
// are in the Result, with Failed set.
func Run(ctx context.Context, node, toolDir, dir string, job Job) (Result, error) {
	jb, err := json.Marshal(job)
	if err != nil {
		return Result{}, err
	}
	jobPath := filepath.Join(dir, "job.json")
	if err := os.WriteFile(jobPath, jb, 0o644); err != nil {
		return Result{}, err
	}
	cmd := exec.CommandContext(ctx, node, filepath.Join(toolDir, "render.mjs"), jobPath)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return Result{}, fmt.Errorf("render harness: no report (%v; exit: %v)\nstdout:\n%s\nstderr:\n%s", err, runErr, stdout.String(), stderr.String())
	}
	if len(res.Cards) != len(job.Cards) || len(res.Emails) != len(job.Emails) || len(res.Pages) != len(job.Pages) {
		return Result{}, fmt.Errorf("render harness checked %d cards, %d emails and %d pages, want %d, %d and %d",
			len(res.Cards), len(res.Emails), len(res.Pages), len(job.Cards), len(job.Emails), len(job.Pages))
	}
	var ee *exec.ExitError
	switch {
	case runErr == nil:
	case errors.As(runErr, &ee) && ee.ExitCode() == 1:
		res.Failed = true
	default:
		return Result{}, fmt.Errorf("render harness exited with %v\n%s", runErr, stderr.String())
	}
	return res, nil
}

// Findings lists every warning and error in the result, each prefixed
// with the kind and name of its item.
func (r Result) Findings() []string {
	var out []string
	for _, c := range r.Cards {
		for _, w := range c.Warnings {
			out = append(out, "card "+c.Name+": Adaptive Cards parse warning: "+w)
		}
		for _, e := range c.Errors {
			out = append(out, "card "+c.Name+": "+e)
		}
	}
	for _, e := range r.Emails {
		for _, x := range e.Errors {
			out = append(out, "email "+e.Name+": "+x)
		}
	}
	for _, p := range r.Pages {
		for _, x := range p.Errors {
			out = append(out, "page "+p.Name+": "+x)
		}
	}
	return out
}
