// Package graphsim is a simulated Microsoft Graph tenant for tests and the
// demo. The real msgraph-sdk-go client talks to it unchanged over plain HTTP
// on 127.0.0.1 (base URL http://127.0.0.1:PORT/v1.0).
//
// # Model
//
// A Tenant holds the directory objects the responder reads and changes, in
// Graph's own JSON shapes: applications and service principals with their
// password (secret) and key (certificate) credentials, tags and owners;
// users (the owners and the mail sender); Identity Protection's
// servicePrincipalRiskDetections and riskyServicePrincipals; Conditional
// Access policies and named locations. It starts from a Seed, usually a JSON
// file (see Load and testdata/tenant/README.md), and every change goes
// through the same HTTP routes the responder calls, so a test observes the
// effects exactly as the responder would by re-reading Graph.
//
// The simulator is deliberately narrow: it serves the routes the responder
// needs and records every other request as Unexpected, so tests can assert
// that the responder called nothing else. It never deletes an application or
// a service principal (DELETE answers 405 and is recorded as unexpected), so
// a test can prove the responder does not try.
//
// # Fidelity
//
// Where the responder's correctness depends on a Graph detail, the
// simulator reproduces it: the (appId='...') alternate key, raw or
// percent-encoded; $select, with a certificate's key returned only when
// keyCredentials is selected on a single object; owners as directory
// objects tagged with @odata.type; evolvable enum members (riskDetail
// adminConfirmedServicePrincipalCompromised, activity servicePrincipal)
// shown as unknownFutureValue unless the client sends
// "Prefer: include-unknown-enum-members"; gzip request bodies, which
// msgraph-sdk-go sends by default; Graph's error body with innerError.
// Answers that could not be confirmed against Graph are marked UNVERIFIED
// in the code and listed in testdata/tenant/README.md.
//
// # Faults
//
// Real Graph throttles (429 with Retry-After), fails (500, 503), hangs and
// drops connections. A Fault injects one of these on the requests whose
// method and path match a pattern such as "POST /applications/*/removePassword",
// either BEFORE the request is applied or AFTER it: the write happened but
// the client sees an error or a dropped connection. That second case is the
// one a responder gets wrong, and it must resolve it by re-reading the tenant.
// Latency can be added globally (benchmarks) or per pattern.
//
// # Observability
//
// Tests read the request log (with counts per route), the writes applied,
// the mail sent, unexpected requests and snapshots of the objects. A
// separate process reads the same through the admin API under /_sim/.
// Everything is safe for concurrent use.
package graphsim
