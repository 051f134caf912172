package graphsim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"slices"
	"strings"

	"go.uber.org/zap"
)

// Handlers run with t.mu held and return the reply; they never write the
// response themselves, so a fault can still replace it after the change.

func notFound(key string) reply {
	return gerr(http.StatusNotFound, "Request_ResourceNotFound",
		"Resource '%s' does not exist or one of its queried reference-property objects are not present.", strings.TrimPrefix(key, appIDPrefix))
}

// byKey matches an object id, or an appId when the path used (appId='...').
func byKey(key, id, appID string) bool {
	if k, ok := strings.CutPrefix(key, appIDPrefix); ok {
		return strings.EqualFold(k, appID)
	}
	return strings.EqualFold(key, id)
}

// object is an application or a service principal: the responder reads
// and changes both the same way, and credentials can live on either.
type object struct {
	id        string
	odataType string
	keys      *[]KeyCredential
	passwords *[]PasswordCredential
	tags      *[]string
	enabled   **bool // nil for an application
	owners    []DirectoryObjectRef
	value     any // *Application or *ServicePrincipal
}

func appObject(a *Application) *object {
	return &object{a.ID, "#microsoft.graph.application", &a.KeyCredentials, &a.PasswordCredentials, &a.Tags, nil, a.Owners, a}
}

func spObject(sp *ServicePrincipal) *object {
	return &object{sp.ID, odataSP, &sp.KeyCredentials, &sp.PasswordCredentials, &sp.Tags, &sp.AccountEnabled, sp.Owners, sp}
}

// findObject resolves the {id} of /applications/{id} or
// /servicePrincipals/{id}, either addressing form.
func (t *Tenant) findObject(c *call) (*object, *reply) {
	key := c.params[0]
	if c.route.segs[0] == "applications" {
		for _, a := range t.apps {
			if byKey(key, a.ID, a.AppID) {
				return appObject(a), nil
			}
		}
	} else if sp := t.findSP(key); sp != nil {
		return spObject(sp), nil
	}
	rep := notFound(key)
	return nil, &rep
}

func (t *Tenant) findSP(key string) *ServicePrincipal {
	for _, sp := range t.sps {
		if byKey(key, sp.ID, sp.AppID) {
			return sp
		}
	}
	return nil
}

// render gives the object's Graph JSON; Graph returns a certificate's key
// only on $select for a single object, and owners only from /owners.
func (o *object) render(withKeys bool) map[string]any {
	m := toMap(o.value)
	delete(m, "owners")
	if !withKeys {
		keys, _ := m["keyCredentials"].([]any)
		for _, k := range keys {
			k.(map[string]any)["key"] = nil
		}
	}
	return m
}

func (t *Tenant) findUser(key string) *User {
	for _, u := range t.users {
		if strings.EqualFold(u.ID, key) || strings.EqualFold(u.UserPrincipalName, key) {
			return u
		}
	}
	return nil
}

func (t *Tenant) wrote(c *call, w Write) {
	w.Time, w.Route = t.now(), c.route.name
	t.writes = append(t.writes, w)
	t.log.Info("graphsim: write applied", zap.String("route", w.Route), zap.String("target", w.Target),
		zap.Strings("removed_key_ids", w.RemovedKeyIDs), zap.Strings("added_key_ids", w.AddedKeyIDs), zap.Strings("fields", w.Fields))
}

// decodeStrict decodes a JSON object body, answering Graph's errors for a
// malformed payload or a property the operation does not take.
func decodeStrict(body []byte, v any) *reply {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	var rep reply
	if _, field, ok := strings.Cut(err.Error(), "json: unknown field "); ok {
		rep = gerr(http.StatusBadRequest, "Request_BadRequest", "Invalid property '%s'.", strings.Trim(field, `"`))
	} else {
		rep = badPayload()
	}
	return &rep
}

func badPayload() reply {
	return gerr(http.StatusBadRequest, "BadRequest",
		"Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
}

func schemaMismatch(prop string) reply {
	return gerr(http.StatusBadRequest, "BadRequest", "Property %s in payload has a value that does not match schema.", prop)
}

func noContent() reply { return reply{status: http.StatusNoContent} }

// --- applications and service principals ---

func (t *Tenant) getObject(c *call) reply {
	if rep := checkQuery(c, "$select"); rep != nil {
		return *rep
	}
	o, rep := t.findObject(c)
	if rep != nil {
		return *rep
	}
	sel := selection(c)
	full := o.render(selected(sel, "keyCredentials"))
	m, rep := project(full, sel, keysOf(full))
	if rep != nil {
		return *rep
	}
	return single(c, c.route.segs[0], m)
}

func (t *Tenant) removePassword(c *call) reply {
	if rep := checkQuery(c); rep != nil {
		return *rep
	}
	o, rep := t.findObject(c)
	if rep != nil {
		return *rep
	}
	creds := o.passwords
	var in struct {
		KeyID *string `json:"keyId"`
	}
	if rep := decodeStrict(c.body, &in); rep != nil {
		return *rep
	}
	if in.KeyID == nil || !isGUID(*in.KeyID) {
		return schemaMismatch("keyId")
	}
	i := slices.IndexFunc(*creds, func(p PasswordCredential) bool { return strings.EqualFold(p.KeyID, *in.KeyID) })
	if i < 0 {
		// UNVERIFIED: the status, code and message Graph returns for a keyId
		// the object does not have (not found in docs or issues). A
		// responder must treat this as "already removed" only after
		// re-reading the object.
		return gerr(http.StatusBadRequest, "Request_BadRequest", "No password credential found with keyId %s.", *in.KeyID)
	}
	removed := (*creds)[i].KeyID
	*creds = slices.Delete(slices.Clone(*creds), i, i+1)
	t.wrote(c, Write{Target: o.id, RemovedKeyIDs: []string{removed}})
	return noContent()
}

// --- owners and users ---

var ownerProps = keysOf(toMap(User{}), spObject(&ServicePrincipal{KeyCredentials: []KeyCredential{}}).render(false),
	toMap(Group{}), map[string]any{"@odata.type": nil})

// owners lists directory objects of mixed types, each with its @odata.type.
func (t *Tenant) owners(c *call) reply {
	if rep := checkQuery(c, "$select", "$top", "$skiptoken"); rep != nil {
		return *rep
	}
	o, rep := t.findObject(c)
	if rep != nil {
		return *rep
	}
	items := []map[string]any{}
	for _, ref := range o.owners {
		var m map[string]any
		switch ref.ODataType {
		case odataUser:
			if u := t.findUser(ref.ID); u != nil {
				m = toMap(u)
			}
		case odataSP:
			if sp := t.findSP(ref.ID); sp != nil {
				m = spObject(sp).render(false)
			}
		case odataGroup:
			if i := slices.IndexFunc(t.groups, func(g *Group) bool { return strings.EqualFold(g.ID, ref.ID) }); i >= 0 {
				m = toMap(t.groups[i])
				delete(m, "members") // seed-only: membership is not a property in Graph
			}
		}
		if m != nil { // validated seeds always resolve
			m["@odata.type"] = ref.ODataType
			items = append(items, m)
		}
	}
	return list(c, "directoryObjects", items, ownerProps)
}

func (t *Tenant) sendMail(c *call) reply {
	if rep := checkQuery(c); rep != nil {
		return *rep
	}
	u := t.findUser(c.params[0])
	if u == nil {
		// Exchange's answer for an unknown mailbox; wording UNVERIFIED.
		return gerr(http.StatusNotFound, "ErrorInvalidUser", "The requested user '%s' is invalid.", c.params[0])
	}
	if strings.HasPrefix(strings.ToLower(c.r.Header.Get("Content-Type")), "text/plain") {
		return t.sendMIME(c, u)
	}
	var in struct {
		Message         json.RawMessage `json:"message"`
		SaveToSentItems *bool           `json:"saveToSentItems"`
	}
	if rep := decodeStrict(c.body, &in); rep != nil {
		return *rep
	}
	type recipient struct {
		EmailAddress struct {
			Address string `json:"address"`
		} `json:"emailAddress"`
	}
	var msg struct {
		Subject       string      `json:"subject"`
		ToRecipients  []recipient `json:"toRecipients"`
		CcRecipients  []recipient `json:"ccRecipients"`
		BccRecipients []recipient `json:"bccRecipients"`
	}
	if len(in.Message) == 0 || json.Unmarshal(in.Message, &msg) != nil || bytes.Equal(in.Message, []byte("null")) {
		return badPayload()
	}
	addrs := func(rs []recipient) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.EmailAddress.Address)
		}
		return out
	}
	m := Mail{Time: t.now(), From: u.UserPrincipalName, Subject: msg.Subject, To: addrs(msg.ToRecipients),
		Cc: addrs(msg.CcRecipients), Bcc: addrs(msg.BccRecipients), SaveToSentItems: in.SaveToSentItems, Message: bytes.Clone(in.Message)}
	if len(m.To)+len(m.Cc)+len(m.Bcc) == 0 || slices.Contains(slices.Concat(m.To, m.Cc, m.Bcc), "") {
		return gerr(http.StatusBadRequest, "ErrorInvalidRecipients", "At least one recipient isn't valid.") // wording UNVERIFIED
	}
	t.mail = append(t.mail, m)
	t.wrote(c, Write{Target: u.ID, Fields: []string{"sendMail"}})
	return reply{status: http.StatusAccepted}
}

// --- collections and identity protection ---

var (
	userProps      = keysOf(toMap(User{}))
	detectionProps = keysOf(toMap(ServicePrincipalRiskDetection{}))
	riskyProps     = keysOf(toMap(RiskyServicePrincipal{}))
	skuProps       = keysOf(toMap(SubscribedSku{}))
	policyProps    = keysOf(toMap(ConditionalAccessPolicy{}))
	locationProps  = keysOf(toMap(NamedLocation{IsTrusted: ptr(false), IPRanges: []IPRange{{}},
		CountriesAndRegions: []string{""}, IncludeUnknownCountriesAndRegions: ptr(false)}))
)

// evolvable lists enum members that follow unknownFutureValue in Graph's
// evolvable enums. Graph returns them only to clients that send
// "Prefer: include-unknown-enum-members" and "unknownFutureValue" to the
// others, so a client that forgets the header cannot tell an admin's
// confirmation from any other state.
// (Member order checked against msgraph-sdk-go v1.89.0's RiskDetail and
// ActivityType enums.)
var evolvable = map[string][]string{
	"riskDetail": {"adminConfirmedServicePrincipalCompromised", "adminDismissedAllRiskForServicePrincipal"},
	"activity":   {"servicePrincipal"},
}

func toClientMap(c *call, v any) map[string]any {
	m := toMap(v)
	for _, p := range c.r.Header.Values("Prefer") {
		if strings.Contains(strings.ToLower(p), "include-unknown-enum-members") {
			return m
		}
	}
	for prop, members := range evolvable {
		if s, ok := m[prop].(string); ok && slices.Contains(members, s) {
			m[prop] = "unknownFutureValue"
		}
	}
	return m
}

// getOne answers GET of one item of a collection, with $select.
func getOne[T any](c *call, set string, items []T, match func(T) bool, known map[string]bool) reply {
	if rep := checkQuery(c, "$select"); rep != nil {
		return *rep
	}
	for _, it := range items {
		if match(it) {
			m, rep := project(toClientMap(c, it), selection(c), known)
			if rep != nil {
				return *rep
			}
			return single(c, set, m)
		}
	}
	return notFound(c.params[0]) // UNVERIFIED for identityProtection, which may word its 404 differently
}

// listAll answers GET of a collection, with $filter, $top and $select.
func listAll[T any](c *call, set string, items []T, known map[string]bool) reply {
	if rep := checkQuery(c, "$select", "$filter", "$top", "$skiptoken"); rep != nil {
		return *rep
	}
	ms := make([]map[string]any, len(items))
	for i, it := range items {
		ms[i] = toClientMap(c, it)
	}
	return list(c, set, ms, known)
}

func idIs[T any](c *call, id func(T) string) func(T) bool {
	return func(v T) bool { return strings.EqualFold(id(v), c.params[0]) }
}

func (t *Tenant) confirmCompromised(c *call) reply {
	return t.setRisk(c, "high", "confirmedCompromised", "adminConfirmedServicePrincipalCompromised")
}

func (t *Tenant) dismiss(c *call) reply {
	return t.setRisk(c, "none", "dismissed", "adminDismissedAllRiskForServicePrincipal")
}

// setRisk does what confirmCompromised and dismiss do in Graph: the risky
// service principal takes the new level, state and detail, and (UNVERIFIED,
// by analogy with risky users) so do its detections' state and detail.
func (t *Tenant) setRisk(c *call, level, state, detail string) reply {
	if rep := checkQuery(c); rep != nil {
		return *rep
	}
	var in struct {
		ServicePrincipalIDs []string `json:"servicePrincipalIds"`
	}
	if rep := decodeStrict(c.body, &in); rep != nil {
		return *rep
	}
	// Limits from the docs (up to 60 ids for dismiss); the error wording
	// is UNVERIFIED.
	if len(in.ServicePrincipalIDs) == 0 || len(in.ServicePrincipalIDs) > 60 {
		return gerr(http.StatusBadRequest, "BadRequest", "servicePrincipalIds must hold between 1 and 60 ids.")
	}
	var sps []*ServicePrincipal
	for _, id := range in.ServicePrincipalIDs {
		sp := t.findSP(id)
		if sp == nil || strings.HasPrefix(id, appIDPrefix) {
			return gerr(http.StatusBadRequest, "BadRequest", "Service principal '%s' was not found in the tenant.", id) // UNVERIFIED
		}
		sps = append(sps, sp)
	}
	now := t.now().UTC()
	for _, sp := range sps {
		i := slices.IndexFunc(t.risky, func(r *RiskyServicePrincipal) bool { return strings.EqualFold(r.ID, sp.ID) })
		if i < 0 {
			t.risky = append(t.risky, &RiskyServicePrincipal{ID: sp.ID, IsEnabled: *sp.AccountEnabled,
				DisplayName: sp.DisplayName, AppID: sp.AppID, ServicePrincipalType: sp.ServicePrincipalType})
			i = len(t.risky) - 1
		}
		r := t.risky[i]
		r.RiskLevel, r.RiskState, r.RiskDetail, r.RiskLastUpdatedDateTime = level, state, detail, &now
		for _, d := range t.detections {
			if strings.EqualFold(d.ServicePrincipalID, sp.ID) {
				d.RiskState, d.RiskDetail, d.LastUpdatedDateTime = state, detail, &now
			}
		}
		t.wrote(c, Write{Target: sp.ID, Fields: []string{"riskLevel", "riskState", "riskDetail"}})
	}
	return noContent()
}

// sendMIME is sendMail's MIME form: the body is a base64 MIME message
// (Content-Type text/plain), which is how a message with both an HTML and a
// plain-text body is sent. The parts are kept so tests can check both.
func (t *Tenant) sendMIME(c *call, u *User) reply {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(c.body)))
	if err != nil {
		return gerr(http.StatusBadRequest, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.") // wording UNVERIFIED
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return gerr(http.StatusBadRequest, "ErrorMimeContentInvalid", "The MIME content is not valid: %v", err) // wording UNVERIFIED
	}
	addrs := func(h string) []string {
		list, err := msg.Header.AddressList(h)
		if err != nil {
			return nil
		}
		var out []string
		for _, a := range list {
			out = append(out, a.Address)
		}
		return out
	}
	m := Mail{Time: t.now(), From: u.UserPrincipalName, Subject: decodeHeader(msg.Header.Get("Subject")), To: addrs("To"), Cc: addrs("Cc"), MIME: raw}
	if len(m.To)+len(m.Cc) == 0 {
		return gerr(http.StatusBadRequest, "ErrorInvalidRecipients", "At least one recipient isn't valid.") // wording UNVERIFIED
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err == nil && strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(msg.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
				if d, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), "")); err == nil {
					b = d
				}
			} else if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
				if d, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b))); err == nil {
					b = d
				}
			}
			ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			m.Parts = append(m.Parts, MailPart{ContentType: ct, Body: string(b)})
		}
	}
	t.mail = append(t.mail, m)
	t.wrote(c, Write{Target: u.ID, Fields: []string{"sendMail"}})
	return reply{status: http.StatusAccepted}
}

func decodeHeader(s string) string {
	if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		return d
	}
	return s
}
