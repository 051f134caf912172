package ledger

// How an incident is laid out in Blob Storage (body, metadata, ETag with the
// history mark) and how the service's errors map to the ledger's.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/redact"
)

func metadataOf(in *incident.Incident) map[string]*string {
	md := map[string]*string{
		mdState:   new(string(in.State)),
		mdCreated: new(in.Created.UTC().Format(time.RFC3339Nano)),
	}
	if id := appIDOf(in); id != "" {
		md[mdAppID] = new(id)
	}
	if !in.NextAttempt.IsZero() {
		md[mdNextAttempt] = new(in.NextAttempt.UTC().Format(time.RFC3339Nano))
	}
	return md
}

// metadataMatch pre-filters on blob metadata. It only rejects what surely
// does not match; List re-checks every candidate on the document.
func metadataMatch(f Filter, md map[string]*string) bool {
	get := func(key string) (string, bool) {
		for k, v := range md {
			if strings.EqualFold(k, key) && v != nil {
				return *v, true
			}
		}
		return "", false
	}
	state, hasState := get(mdState)
	if !hasState {
		return true // written by hand or by an older version: decide on the document
	}
	probe := &incident.Incident{State: incident.State(state)}
	if v, ok := get(mdAppID); ok {
		probe.App.AppID = v
	} else if f.AppID != "" {
		return false
	}
	if v, ok := get(mdCreated); ok {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return true
		}
		probe.Created = t
	}
	if v, ok := get(mdNextAttempt); ok {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return true
		}
		probe.NextAttempt = t
	}
	return f.Match(probe)
}

func encodeBlob(in *incident.Incident) ([]byte, historyMark, error) {
	data, err := json.Marshal(in)
	if err != nil {
		return nil, historyMark{}, fmt.Errorf("ledger: encode incident %s: %w", in.ID, err)
	}
	mark, err := markOf(in.History)
	if err != nil {
		return nil, historyMark{}, err
	}
	return data, mark, nil
}

func decodeBlob(id string, data []byte, etag azcore.ETag) (*incident.Incident, error) {
	var in incident.Incident
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("ledger: decode incident %s: %w", id, err)
	}
	if in.ID != id {
		return nil, fmt.Errorf("ledger: blob for incident %s holds id %q", id, in.ID)
	}
	mark, err := markOf(in.History)
	if err != nil {
		return nil, err
	}
	in.ETag = joinETag(etag, mark)
	return &in, nil
}

// The incident ETag: the blob's ETag, then ";h=" and the history mark.
const etagSep = ";h="

func joinETag(etag azcore.ETag, mark historyMark) string {
	return string(etag) + etagSep + mark.String()
}

func splitETag(s string) (azcore.ETag, historyMark, bool) {
	i := strings.LastIndex(s, etagSep)
	if i <= 0 {
		return "", historyMark{}, false
	}
	mark, ok := parseMark(s[i+len(etagSep):])
	if !ok {
		return "", historyMark{}, false
	}
	return azcore.ETag(s[:i]), mark, true
}

func isStatus(err error, status int) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == status
}

// classify turns an SDK error into one of the ledger's, with a message that
// names the operation and the object but never a URL's query or a key.
func (s *BlobStore) classify(op, what string, err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		msg := fmt.Sprintf("blob ledger: %s %s: HTTP %d", op, what, re.StatusCode)
		if re.ErrorCode != "" {
			msg += " " + re.ErrorCode
		}
		cause := redacted{msg: msg, err: err}
		switch {
		case re.ErrorCode == string(bloberror.ContainerNotFound):
			return fmt.Errorf("%w: %w (container %q is gone)", ErrUnavailable, cause, s.name)
		case re.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%w: %w", ErrNotFound, cause)
		case re.StatusCode == http.StatusPreconditionFailed:
			return fmt.Errorf("%w: %w", ErrConflict, cause)
		case re.StatusCode == http.StatusUnauthorized, re.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%w: %w (the identity needs Storage Blob Data Contributor on the account or container)", ErrUnavailable, cause)
		case re.StatusCode == http.StatusRequestTimeout, re.StatusCode == http.StatusTooManyRequests, re.StatusCode >= 500:
			return fmt.Errorf("%w: %w", ErrUnavailable, cause)
		default:
			return cause
		}
	}
	// No response: transport failure, timeout, cancellation, or no token.
	return fmt.Errorf("%w: %w", ErrUnavailable, redacted{
		msg: fmt.Sprintf("blob ledger: %s %s: %s", op, what, redact.URLsIn(err.Error())),
		err: err,
	})
}

// redacted carries an error with a message safe to log; errors.Is and
// errors.As still see the original.
type redacted struct {
	msg string
	err error
}

func (r redacted) Error() string { return r.msg }

func (r redacted) Unwrap() error { return r.err }
