package graphsim

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// patchObject updates the properties the responder changes: keyCredentials
// (to remove a certificate), tags, and accountEnabled on a service
// principal. Everything is validated before anything changes, so a
// rejected PATCH leaves the object as it was.
func (t *Tenant) patchObject(c *call) reply {
	if rep := checkQuery(c); rep != nil {
		return *rep
	}
	o, rep := t.findObject(c)
	if rep != nil {
		return *rep
	}
	var props map[string]json.RawMessage
	if err := json.Unmarshal(c.body, &props); err != nil || props == nil {
		return badPayload()
	}
	names := slices.Sorted(maps.Keys(props))
	if _, ok := props["passwordCredentials"]; ok {
		// Graph's documented rule: "Using PATCH to set passwordCredential is
		// not supported. Use the addPassword and removePassword methods."
		// Code and message are those Graph returned to a client adding a
		// secret outside addPassword (microsoft-graph-docs issue #6179);
		// that it answers the same for every PATCH of passwordCredentials
		// is UNVERIFIED.
		return gerr(http.StatusBadRequest, "Request_BadRequest", "New password credentials must be generated with service actions.")
	}
	var (
		newKeys        []KeyCredential
		added, removed []string
		newTags        []string
		newEnabled     *bool
	)
	for _, name := range names {
		raw := props[name]
		switch {
		case name == "@odata.type":
			var s string
			if json.Unmarshal(raw, &s) != nil || s != o.odataType {
				return gerr(http.StatusBadRequest, "BadRequest", "A type named '%s' could not be resolved by the model.", strings.Trim(string(raw), `"`))
			}
		case name == "keyCredentials":
			if newKeys, added, removed, rep = t.patchKeys(raw, *o.keys); rep != nil {
				return *rep
			}
		case name == "tags":
			if json.Unmarshal(raw, &newTags) != nil || newTags == nil {
				return schemaMismatch("tags")
			}
		case name == "accountEnabled" && o.enabled != nil:
			if json.Unmarshal(raw, &newEnabled) != nil || newEnabled == nil {
				return schemaMismatch("accountEnabled")
			}
		default:
			// Graph's answer for a property the type does not have (seen in
			// the wild, pnp/PnP-Sites-Core issue #1807). Real Graph accepts
			// many more properties than the simulator does; the responder
			// needs none of them.
			return gerr(http.StatusBadRequest, "Request_BadRequest", "Invalid property '%s'.", name)
		}
	}
	if newKeys != nil {
		*o.keys = newKeys
	}
	if newTags != nil {
		*o.tags = newTags
	}
	if newEnabled != nil {
		*o.enabled = newEnabled
		for _, r := range t.risky {
			if strings.EqualFold(r.ID, o.id) {
				r.IsEnabled = *newEnabled
			}
		}
	}
	t.wrote(c, Write{Target: o.id, RemovedKeyIDs: removed, AddedKeyIDs: added,
		Fields: slices.DeleteFunc(names, func(n string) bool { return n == "@odata.type" })})
	return noContent()
}

// keyCredentialPatch is one element of a keyCredentials PATCH as the SDK
// serializes it (it adds @odata.type).
type keyCredentialPatch struct {
	ODataType           *string    `json:"@odata.type"`
	CustomKeyIdentifier *string    `json:"customKeyIdentifier"`
	DisplayName         *string    `json:"displayName"`
	EndDateTime         *time.Time `json:"endDateTime"`
	StartDateTime       *time.Time `json:"startDateTime"`
	Key                 *string    `json:"key"`
	KeyID               *string    `json:"keyId"`
	Type                *string    `json:"type"`
	Usage               *string    `json:"usage"`
}

// patchKeys applies Graph's collection-replace semantics: the object keeps
// exactly the credentials sent. UNVERIFIED (reference/entra/graph/10): that
// Graph replaces the whole collection, that a re-sent keyId is preserved,
// and that every credential must carry its key. The simulator assumes all
// three, which is the strictest reading: a kept certificate sent without
// its key is rejected rather than silently dropped.
func (t *Tenant) patchKeys(raw json.RawMessage, existing []KeyCredential) (out []KeyCredential, added, removed []string, _ *reply) {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil || elems == nil {
		rep := schemaMismatch("keyCredentials")
		return nil, nil, nil, &rep
	}
	fail := func(r reply) ([]KeyCredential, []string, []string, *reply) { return nil, nil, nil, &r }
	out = []KeyCredential{}
	kept := map[string]bool{}
	for _, e := range elems {
		var in keyCredentialPatch
		if rep := decodeStrict(e, &in); rep != nil {
			return fail(*rep)
		}
		// Checked first: a client that re-sends credentials it parsed from a
		// GET can send empty objects (msgraph-sdk-go's backing store
		// serializes only changed values), and this names the real problem.
		if in.Key == nil || *in.Key == "" {
			return fail(gerr(http.StatusBadRequest, "Request_BadRequest", "Key credential has no key: re-send the certificate (key) of every credential to keep.")) // UNVERIFIED
		}
		if in.Usage == nil || (*in.Usage != "Sign" && *in.Usage != "Verify") {
			// Graph's message, seen in msgraph-sdk-java issue #1823.
			return fail(gerr(http.StatusBadRequest, "Request_BadRequest", `The value for the property "usage" in one of your credentials is invalid. Acceptable values are Sign, Verify.`))
		}
		if in.Type == nil || *in.Type == "" {
			return fail(gerr(http.StatusBadRequest, "Request_BadRequest", `The value for the property "type" in one of your credentials is invalid.`)) // UNVERIFIED wording
		}
		der, err := base64.StdEncoding.DecodeString(*in.Key)
		if err != nil {
			return fail(schemaMismatch("keyCredentials"))
		}
		kc := KeyCredential{CustomKeyIdentifier: in.CustomKeyIdentifier, DisplayName: in.DisplayName,
			EndDateTime: in.EndDateTime, StartDateTime: in.StartDateTime, Key: in.Key, Type: *in.Type, Usage: *in.Usage}
		if in.KeyID != nil && *in.KeyID != "" {
			id := strings.ToLower(*in.KeyID)
			if !isGUID(id) || kept[id] {
				return fail(schemaMismatch("keyCredentials"))
			}
			i := slices.IndexFunc(existing, func(k KeyCredential) bool { return strings.EqualFold(k.KeyID, id) })
			switch {
			case i < 0:
				added = append(added, id) // UNVERIFIED: Graph may assign its own keyId instead
			case existing[i].Key != nil && *existing[i].Key != *in.Key:
				// Azure AD Graph's rule for credentials; UNVERIFIED on Microsoft Graph.
				return fail(gerr(http.StatusBadRequest, "Request_BadRequest", "Update to existing credential with KeyId '%s' is not allowed.", id))
			}
			kc.KeyID, kept[id] = id, true
		} else {
			kc.KeyID = t.newID()
			kept[kc.KeyID] = true
			added = append(added, kc.KeyID)
		}
		if kc.CustomKeyIdentifier == nil {
			// Documented default: the certificate's thumbprint. Rendered as
			// upper-case hex like the reference samples; UNVERIFIED encoding.
			sum := sha1.Sum(der)
			kc.CustomKeyIdentifier = ptr(strings.ToUpper(hex.EncodeToString(sum[:])))
		}
		out = append(out, kc)
	}
	for _, k := range existing {
		if !kept[strings.ToLower(k.KeyID)] {
			removed = append(removed, k.KeyID)
		}
	}
	return out, added, removed, nil
}
