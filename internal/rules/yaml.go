package rules

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/spresponder/spresponder/internal/detect"
)

// field is a mapping entry: its key node (for the key's line) and value.
type field struct {
	key, value *yaml.Node
}

// fields checks that n is a mapping with only known keys, each once, and
// returns its entries by key; nil (with an error recorded) when n is not a
// mapping.
func (p *parser) fields(n *yaml.Node, path string, known ...string) map[string]field {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a mapping with the keys %s, got %s", strings.Join(known, ", "), describe(n))
		return nil
	}
	out := map[string]field{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, path, "a key must be a word, got %s", describe(k))
			continue
		}
		if prev, dup := out[k.Value]; dup {
			p.errorf(k, path, "key %q appears twice (first on line %d)", k.Value, prev.key.Line)
			continue
		}
		if !slices.Contains(known, k.Value) {
			p.errorf(k, path, "unknown key %q%s; known keys here: %s", k.Value, suggest(k.Value, known), strings.Join(known, ", "))
			continue
		}
		out[k.Value] = field{key: k, value: v}
	}
	return out
}

type item struct {
	n *yaml.Node
	s string
}

// list checks that n is a sequence and returns its items.
func (p *parser) list(n *yaml.Node, path string) ([]*yaml.Node, bool) {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "want a list, got %s", describe(n))
		return nil, false
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = resolve(c)
	}
	return out, true
}

// stringList checks that n is a list of strings. The result is non-nil when n
// is a list, even an empty one.
func (p *parser) stringList(n *yaml.Node, path string) ([]item, bool) {
	nodes, ok := p.list(n, path)
	if !ok {
		return nil, false
	}
	out := []item{}
	for i, c := range nodes {
		if s, ok := p.str(c, fmt.Sprintf("%s[%d]", path, i)); ok {
			out = append(out, item{n: c, s: s})
		}
	}
	return out, true
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.errorf(n, path, "want a string, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) boolean(n *yaml.Node, path string) bool {
	n = resolve(n)
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		p.errorf(n, path, "want true or false, got %s", describe(n))
		return false
	}
	return b
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func describe(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case isNull(n):
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

// suggest offers the known word closest to a misspelt one.
func suggest(got string, known []string) string {
	best, bestD := "", 3 // at most two edits away
	for _, k := range known {
		if d := distance(strings.ToLower(got), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance between two short words.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func kindStrings() []string {
	var out []string
	for _, k := range ruleKinds() {
		out = append(out, string(k))
	}
	return out
}

func joinKinds(ks []detect.Kind) string {
	var out []string
	for _, k := range ks {
		out = append(out, string(k))
	}
	return strings.Join(out, ", ")
}

func actionStrings() []string {
	var out []string
	for _, a := range actions() {
		out = append(out, string(a))
	}
	return out
}
