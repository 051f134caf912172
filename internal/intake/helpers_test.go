package intake

import "net/netip"

func allowed(cidrs ...string) func(string) []netip.Prefix {
	var nets []netip.Prefix
	for _, c := range cidrs {
		nets = append(nets, netip.MustParsePrefix(c))
	}
	return func(string) []netip.Prefix { return nets }
}
