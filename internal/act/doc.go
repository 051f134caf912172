// Package act lets a person decide from the card or the email: signed,
// expiring, single-use action links, and the /api/act page they open.
//
// # Model
//
// A link carries a token bound to one incident, one action (approve,
// falsePositive, rotated, or report: the full report page), one intended
// recipient and an expiry (default 24 h). The token is
// base64url(payload) "." base64url(HMAC-SHA256(key, payload)); the key
// comes from a setting the deployment fills from Key Vault, at least 32
// bytes, with an optional previous key accepted during a rotation.
// Signatures are compared in constant time; the decoder is strict (one
// text per token, FuzzDecodeToken) and bounded.
//
// The intended recipient is what the notifier addressed:
//
//   - a Teams target ("webhook:default", "webhook:app"): a channel has
//     many readers, so the link belongs to the channel, not to a person.
//     Anyone who may decide for the app (an owner, or a member of the
//     security group) may use it, and the channel is recorded with the
//     decision. The target id is in the token in clear; it is not secret.
//   - a mail address: the link belongs to that one person. The signed-in
//     person's mail or user principal name, read from Graph by their
//     object id (not from a header), must be the address; the token holds
//     only a keyed digest of it, so no address sits in a URL. A forwarded
//     mail's links do not work for the person it was forwarded to.
//
// # GET shows, POST decides
//
// Mail scanners and link previews follow links, so GET only shows: the
// confirmation page (what will happen, the incident, the credential, the
// reach) or the report. It writes nothing and does not spend the token.
// The decision is a POST from that page: a form without script, the
// token in the body, refused unless the browser's Origin (or Referer) is
// the page's own and Sec-Fetch-Site, when sent, says same-origin.
//
// The approver is the person the Function App's built-in authentication
// (Entra ID) signed in, trusted only when WEBSITE_AUTH_ENABLED is true.
// Without a signed-in person a POST is recorded as an acknowledgment and
// nothing is done (the link stays usable). With one, the person must own
// the app or its service principal (Graph owners) or be in the configured
// security group (checkMemberGroups, transitive). Only then is the token
// spent, by a conditional write of its control record in the ledger
// (ledger.ActionTokens, kind actiontoken), and
// the decision carried out through the playbook:
//
//   - approve: playbook.PrepareRedrive and Run, the same entry as
//     `incidents redrive`: a fresh verification in Graph, and the breaker,
//     kill switch, dry-run and protected apps as they stand now;
//   - falsePositive: playbook.Resolve, the per-key decision;
//   - rotated: only when a fresh Graph read shows every compromised key
//     gone (checked before the token is spent), then playbook.Resolve.
//
// Every step is recorded on the incident (who, when, which channel, which
// action, the result), and a follow-up card goes to each Teams target the
// incident's card reached. A full token never reaches a log line, the
// ledger or a page other than the one it opened: logs name it by
// Fingerprint, the ledger by a digest of its nonce. The platform's own
// request telemetry may record a link's URL (the token is in its query);
// such a record is worth little: the link is single-use, expires, and a
// decision also needs the signed-in owner or security-group member (and,
// for a mailed link, its addressee).
package act
