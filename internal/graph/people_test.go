package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/graphsim"
)

// The act page's reads, through the real SDK adapter against the simulated
// tenant: a user by object id, and checkMemberGroups through nested groups
// with the exact body Graph documents ({"groupIds":[...]}).
func TestUserAndMemberGroups(t *testing.T) {
	seed, err := graphsim.Load(filepath.Join("..", "..", "testdata", "tenant", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	const (
		outer  = "7d1e3f5a-9b2c-4d6e-8f0a-1b3c5d7e9f20"
		inner  = "0f0e0d0c-0b0a-4909-8807-060504030201"
		other  = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
		isaiah = "6b2e9d14-7c3a-4f85-b1e0-2a9c8d7f5e31"
		lee    = "9a4f2c71-3e8b-4d6a-a5c0-7b1e2d9f8c03"
	)
	seed.Groups = append(seed.Groups, graphsim.Group{ID: outer, DisplayName: "Security", Members: []string{inner}},
		graphsim.Group{ID: inner, DisplayName: "SOC", Members: []string{isaiah}}, graphsim.Group{ID: other, DisplayName: "Other", Members: []string{lee}})
	sim := graphsim.New(*seed, graphsim.WithLogger(zap.NewNop()))
	cp := &capture{bodies: map[string][][]byte{}}
	srv := httptest.NewServer(cp.wrap(sim.Handler()))
	t.Cleanup(srv.Close)
	c, err := graph.New(graph.Config{BaseURL: srv.URL + "/v1.0", Credential: graph.StaticToken("simulated-tenant")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	u, err := c.User(ctx, "8105c513-d24b-4b8d-9035-f8d48854d703")
	if err != nil || u.Mail != "AlexW@contoso.com" || u.UserPrincipalName != "AlexW@contoso.com" || u.ID != "8105c513-d24b-4b8d-9035-f8d48854d703" {
		t.Fatalf("user: %+v %v", u, err)
	}
	if _, err := c.User(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := c.User(ctx, "../me"); !errors.Is(err, directory.ErrRejected) {
		t.Fatalf("a path as an id: %v", err)
	}

	got, err := c.MemberGroups(ctx, isaiah, []string{outer, other})
	if err != nil || !slices.Equal(got, []string{outer}) {
		t.Fatalf("nested member: %v %v", got, err)
	}
	got, err = c.MemberGroups(ctx, lee, []string{outer})
	if err != nil || len(got) != 0 {
		t.Fatalf("not a member: %v %v", got, err)
	}
	bodies := cp.bodies["POST /v1.0/users/"+isaiah+"/checkMemberGroups"]
	var body map[string][]string
	if len(bodies) != 1 || json.Unmarshal(bodies[0], &body) != nil || !slices.Equal(body["groupIds"], []string{outer, other}) || len(body) != 1 {
		t.Fatalf("request body: %q", bodies)
	}
	if _, err := c.MemberGroups(ctx, isaiah, make([]string, 21)); !errors.Is(err, directory.ErrRejected) {
		t.Fatalf("21 groups: %v", err)
	}
}
