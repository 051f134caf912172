package config

import (
	"fmt"
	"strings"
	"time"
)

// loadUsage reads the settings of the use of a leaked credential.
func loadUsage(c *Config, errs *[]error, val func(string) string) {
	c.UsageConsumerGroup = val("SPRESPONDER_USAGE_CONSUMER_GROUP")
	if g := c.UsageConsumerGroup; g != "" && (strings.EqualFold(g, "$Default") || strings.ContainsAny(g, "/ ")) {
		*errs = append(*errs, fmt.Errorf("SPRESPONDER_USAGE_CONSUMER_GROUP=%q: want a consumer group of its own (not $Default, which the Function App reads with; no slash or space)", g))
	}
	c.UsageWorkspace = strings.ToLower(val("SPRESPONDER_USAGE_WORKSPACE"))
	if w := c.UsageWorkspace; w != "" && !isGUID(w) {
		*errs = append(*errs, fmt.Errorf("SPRESPONDER_USAGE_WORKSPACE=%q: want the workspace id (a GUID, the Workspace ID on the workspace's overview), not its name or resource id", w))
	}
	c.UsageLogAnalyticsURL = val("SPRESPONDER_USAGE_LOGANALYTICS_URL")
	if u := c.UsageLogAnalyticsURL; !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://127.0.0.1") {
		*errs = append(*errs, fmt.Errorf("SPRESPONDER_USAGE_LOGANALYTICS_URL=%q: want an https URL (or http://127.0.0.1 for a local server)", u))
	}
	c.UsageDeadline = boundedDuration(errs, val, "SPRESPONDER_USAGE_DEADLINE", time.Second, 2*time.Minute)
	c.UsageMaxBytes = int64(intSetting(errs, val, "SPRESPONDER_USAGE_MAX_BYTES", 1<<20, 4<<30))
	c.UsageWatch = boundedDuration(errs, val, "SPRESPONDER_USAGE_WATCH", 0, 90*24*time.Hour)
}
