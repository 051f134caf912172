// Package notify tells people about an incident: the app's owners (by Teams
// and email), the security team (always copied), and on-call (a pager
// webhook) when something needs a human.
//
// # Model
//
// Notification is the last stage of the playbook and the only one whose
// audience is a person who is not a security specialist. It runs after
// contain and confirm, under its own deadline, so containment never waits on
// a slow webhook or mailbox. It works in four steps, each a small piece of
// this package:
//
//  1. Resolve recipients (Resolve): application owners, then
//     service-principal owners, then a per-app override (configuration, or
//     the service principal tag "spresponder:notify=<address>"), then the
//     configured security fallback. Owners who cannot receive mail (service
//     principals, groups, users without a mailbox) are kept on the incident
//     as recipients without an address, with the reason, so the card can
//     say who could not be told. An app without any reachable owner is
//     marked Orphaned. Addresses are de-duplicated case-insensitively; the
//     first (most specific) reason wins.
//     An incident Graph did not verify (or already closed) is the
//     exception (SecurityOnly, ResolveSecurityOnly): owners are not read,
//     overrides and tags are ignored, only the security contacts and
//     on-call hear of it, and every card, mail and page says UNVERIFIED
//     with UnverifiedNotice and asks nobody to rotate or delete a key. The
//     email and Teams channels hold that rule too, so stale recipients or
//     the owners' per-app Teams channel cannot be reached by a forged event.
//  2. Render (BuildReport, RenderCardWith, RenderEmailWith,
//     RenderReportPage): one pure function of the incident builds a Report,
//     the plain-language story (what was detected, which credential, where
//     it was used from, what the responder did and did not do and why, the
//     Conditional Access verdict, the owner's next steps, how on-call
//     inspects or replays it). The Teams card, the email and the report
//     page are layouts of that one Report, so they never disagree. The card
//     is the compact form (headline, app, credential, what was done, the
//     verdict, the reach in a line, the first step, the buttons and the
//     full report), under MaxCardBytes whatever the incident holds: its
//     text is cut, never its structure or a link. The email and the page
//     are the long form.
//     Each reader's decisions (ActionLinks, from an Actions: the act side)
//     are buttons on the card, in the email and on the page; they are
//     checked first (https, bounded), since a message carries them as they
//     are.
//  3. Deliver (Notifier): each Channel (teams, email, pager subpackages)
//     lists its targets for the incident; with WithActions, a LinkedChannel
//     (teams, email) gets each target's own links, or none when they cannot
//     be had (logged, counted, recorded: the message still goes); for
//     every target not already
//     recorded as sent on the incident, the Notifier sends with retry and
//     backoff, honouring Retry-After, within the notify deadline: the
//     earlier of the caller's context deadline and Config.Deadline. Notify
//     returns by then whatever a channel does (channels read a copy of the
//     incident, so one still busy is simply abandoned); a target not done
//     is recorded pending, "deadline; will retry on the next sweep", and
//     the error wraps ErrUndelivered and ErrDeadline.
//  4. Record: each target's outcome is appended to Incident.Notified (done,
//     failed or pending, reason, attempts, time) and the notify step is
//     updated. Notify returns nil only when everything was delivered. The
//     incident record is the dedup log: a replayed or redelivered incident
//     whose target is already recorded as sent is not notified again.
//     Persisting the incident is the caller's job (the ledger).
//
// # Outside systems
//
// The directory and the mailbox are reached through two small interfaces
// declared here, Owners and Mailer; the Graph adapter satisfies them. Teams
// and the pager are plain HTTPS webhooks posted with PostJSON.
//
// # Secrets
//
// Webhook URLs are secrets (a Workflows URL carries its signature in the
// query string, sig=...; other services put their key in the path). One
// rule shows them: RedactURL keeps scheme and host only,
// "https://host/…redacted". They are never logged, never stored on the
// incident (targets are names such as "webhook:default"; a channel that
// names a target by its URL is refused, and the URL is recorded redacted),
// and removed from every error by Redactor before the error leaves a
// channel: the whole URL, and each part of it, whatever it looks like. The
// notifytest package has WebhookSecrets and AssertNoSecrets, which the tests
// here and in other packages use to prove that no configured secret
// reaches logs, errors, the ledger, cards, mails or pages.
package notify
