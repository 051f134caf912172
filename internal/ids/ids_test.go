package ids

import (
	"errors"
	"strings"
	"testing"
)

func TestGUID(t *testing.T) {
	for _, s := range []string{"4bbb79f7-5724-4c9e-95f3-de075f6ec090", "DBCD79C0-C3EA-46B9-9604-FF40D43B8618", "00000000-0000-0000-0000-000000000000"} {
		if !IsGUID(s) || CheckGUID("appId", s) != nil {
			t.Errorf("%q rejected", s)
		}
	}
	for _, s := range []string{"", "1111111111-902d-4dea-8026-5a790862fede", "{4bbb79f7-5724-4c9e-95f3-de075f6ec090}", "4bbb79f7-5724-4c9e-95f3-de075f6ec09/",
		"4bbb79f7-5724-4c9e-95f3-de075f6ec09 ", "4bbb79f7x5724-4c9e-95f3-de075f6ec090", "../../applications", "4bbb79f7-5724-4c9e-95f3-de075f6ec09g"} {
		if IsGUID(s) {
			t.Errorf("%q accepted", s)
		}
		err := CheckGUID("appId", s)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "appId") {
			t.Errorf("%q: error %v", s, err)
		}
	}
}

func TestDetectionID(t *testing.T) {
	for _, s := range []string{"2856d6e87c5c3a74021ff70291fa68107570c150d8dc145bdea5", "ce0ed07f9ccf5be15e4b97d2979af6569b1f67db87ddc9b88b5bb743ea091e47",
		"4bbb79f7-5724-4c9e-95f3-de075f6ec090", "Directory_ESQ", strings.Repeat("a", MaxDetectionIDLen)} {
		if !IsDetectionID(s) {
			t.Errorf("%q rejected", s)
		}
	}
	for _, s := range []string{"", "a/b", "a?b", "a#b", "a%2Fb", "a b", "a\tb", `a"b`, "a'b", "..", "a.b", "a:b", "a\\b", "a\x00b", "é", strings.Repeat("a", MaxDetectionIDLen+1)} {
		if IsDetectionID(s) {
			t.Errorf("%q accepted", s)
		}
		if err := CheckDetectionID("id", s); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: error %v", s, err)
		}
	}
}

func TestThumbprint(t *testing.T) {
	if !IsThumbprint("4809D6EA89A7C43F69FFAC84656F8CBCB571B1F9") || IsThumbprint("4809D6EA89A7C43F69FFAC84656F8CBCB571B1F") || IsThumbprint("4809D6EA89A7C43F69FFAC84656F8CBCB571B1/9") {
		t.Error("thumbprint")
	}
}

func TestErrorCutsLongValues(t *testing.T) {
	err := CheckGUID("tenantId", strings.Repeat("x", 10000))
	if len(err.Error()) > 200 {
		t.Errorf("error of %d bytes", len(err.Error()))
	}
}
