package capolicy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrMorePages is returned when a Graph collection response carries
// @odata.nextLink: evaluating one page would silently miss policies (and
// could turn "blocked" into "no policy"), so the caller must follow the link
// and decode each page, or ask for everything at once.
var ErrMorePages = errors.New("the response has more pages (@odata.nextLink): follow it and decode every page")

// collection is Graph's envelope for a list.
type collection[T any] struct {
	Value    *[]T   `json:"value"`
	NextLink string `json:"@odata.nextLink"`
}

func decodeCollection[T any](what string, graphJSON []byte) ([]T, error) {
	var c collection[T]
	if err := json.Unmarshal(graphJSON, &c); err != nil {
		return nil, fmt.Errorf("decode %s: %w", what, err)
	}
	if c.Value == nil {
		return nil, fmt.Errorf("decode %s: no \"value\" array: not a Graph collection response", what)
	}
	if c.NextLink != "" {
		return nil, fmt.Errorf("decode %s: %w", what, ErrMorePages)
	}
	return *c.Value, nil
}

// DecodePolicies decodes the response of GET
// /identity/conditionalAccess/policies, Graph's {"value":[...]} shape. Graph
// adds properties over time, so unknown ones are ignored; a response with
// @odata.nextLink is refused with ErrMorePages.
func DecodePolicies(graphJSON []byte) ([]Policy, error) {
	ps, err := decodeCollection[Policy]("conditional access policies", graphJSON)
	if err != nil {
		return nil, err
	}
	for i, p := range ps {
		if p.ID == "" {
			return nil, fmt.Errorf("decode conditional access policies: value[%d] (%q) has no id", i, p.DisplayName)
		}
	}
	return ps, nil
}

// DecodePolicy decodes one conditionalAccessPolicy object, as GET
// /identity/conditionalAccess/policies/{id} returns it (or as a POST body
// carries it, which is why the id may be empty here).
func DecodePolicy(graphJSON []byte) (Policy, error) {
	var p Policy
	if err := json.Unmarshal(graphJSON, &p); err != nil {
		return Policy{}, fmt.Errorf("decode conditional access policy: %w", err)
	}
	return p, nil
}

// wireLocation is a namedLocation as Graph sends it, both kinds in one.
type wireLocation struct {
	ODataType   string `json:"@odata.type"`
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	IsTrusted   *bool  `json:"isTrusted"`
	IPRanges    []struct {
		CIDRAddress string `json:"cidrAddress"`
	} `json:"ipRanges"`
	CountriesAndRegions []string `json:"countriesAndRegions"`
}

// DecodeNamedLocations decodes the response of GET
// /identity/conditionalAccess/namedLocations. An ipNamedLocation's ranges
// are parsed into prefixes (a range Graph would not accept is an error, not
// a silently narrower location); a location of a kind the responder does not
// know keeps its @odata.type in Type and has no ranges.
func DecodeNamedLocations(graphJSON []byte) ([]NamedLocation, error) {
	ws, err := decodeCollection[wireLocation]("named locations", graphJSON)
	if err != nil {
		return nil, err
	}
	out := make([]NamedLocation, 0, len(ws))
	for i, w := range ws {
		l := NamedLocation{ID: w.ID, DisplayName: w.DisplayName, IsTrusted: w.IsTrusted != nil && *w.IsTrusted}
		switch t := strings.TrimPrefix(w.ODataType, "#"); t {
		case "microsoft.graph.ipNamedLocation":
			l.Type = LocationIP
			for j, r := range w.IPRanges {
				p, err := netip.ParsePrefix(strings.TrimSpace(r.CIDRAddress))
				if err != nil {
					return nil, fmt.Errorf("decode named locations: value[%d] (%s) ipRanges[%d]: %w", i, w.ID, j, err)
				}
				l.IPRanges = append(l.IPRanges, p.Masked())
			}
		case "microsoft.graph.countryNamedLocation":
			l.Type = LocationCountry
			l.Countries = w.CountriesAndRegions
		default:
			l.Type = w.ODataType
		}
		out = append(out, l)
	}
	return out, nil
}
