package detect

import "strings"

// SelfTest is the kind of a synthetic record sent by `spresponder selftest`
// after a deployment, to prove that events reach the handler and the
// ledger ("the function never fires" found on day one). It is recorded as
// a self-test marker and never acted on: no rule may name this kind (the
// rules parser accepts only the kinds in rules.ruleKinds), so even a
// self-test signal that reached the playbook would open no incident.
const SelfTest Kind = "selfTest"

// SelfTestDetectionPrefix starts the detection id of every self-test
// record. Real detection ids are hex digits (some sources show GUIDs), so
// a record with this prefix is never a real detection, and treating it as
// a self-test cannot hide one.
const SelfTestDetectionPrefix = "spresponder-selftest-"

// IsSelfTestDetection reports whether a detection id is a self-test's.
func IsSelfTestDetection(id string) bool {
	return strings.HasPrefix(strings.ToLower(id), SelfTestDetectionPrefix)
}
