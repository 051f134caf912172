package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"golang.org/x/sync/errgroup"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/quarantine"
)

// BlobStore is the production ledger, on Azure Blob Storage.
//
//	incidents/<id>.json     one incident (JSON), metadata: state, appid, created, nextattempt
//	quarantine/<id>.body    a kept item's bytes, whole
//	quarantine/<id>.json    its metadata (written after the body: present means whole)
//	bysp/<sp>/<id>          the service-principal index (index.go)
//	control/<kind>/<id>.json  a control record (blob_control.go)
//
// Why Blob and not Table Storage: both give a conditional create (Blob: Put
// with If-None-Match: *, 409 BlobAlreadyExists; Table: insert, 409
// EntityAlreadyExists) and an ETag-conditional replace (412 on a stale
// ETag), which is all the model needs. But a table entity is capped at 1 MiB
// with 64 KiB per property, so an incident with a long history, and any
// quarantined event body (Event Hubs allows 1 MB events, and we keep
// oversized ones too), would have to be split; a blob takes either whole.
// One service, one SDK, one role assignment (Storage Blob Data Contributor).
//
// Listing: Blob Storage cannot query document fields, so List pages through
// incidents/ with each blob's metadata (5,000 names per request), filters on
// the metadata, and downloads only the matches, re-checking them on the
// document itself. The metadata is written in the same request as the
// document, so it is never out of step with it. A prefix per state was
// rejected because a state change would be a copy and a delete, which is not
// atomic with the conditional write; blob index tags were rejected for now
// because they are indexed asynchronously, need an extra data-plane
// permission (tags read/write, part of Storage Blob Data Owner), and are not
// offered on hierarchical-namespace accounts. Past some tens of thousands of
// incidents, a retention job that moves resolved incidents elsewhere keeps
// the list short.
//
// The ETag handed out with an incident is the blob's ETag followed by a
// summary of the history that version holds (its length and a digest).
// Update checks the append-only rule against that summary and sends the
// blob's ETag as If-Match, so the check costs no extra read: if the stored
// blob still has that ETag, the summary describes its history exactly.
//
// Each call runs under Timeout (the caller's context may end it sooner), with
// at most MaxRetries transport retries inside it.
type BlobStore struct {
	client  *container.Client
	name    string
	timeout time.Duration
}

var _ Ledger = (*BlobStore)(nil)

// BlobConfig says where the blob ledger lives and how to reach it: either
// AccountURL with a Credential (production: the Function App's managed
// identity through azidentity), or a ConnectionString (Azurite in tests,
// "UseDevelopmentStorage=true" for the default Azurite endpoint).
type BlobConfig struct {
	AccountURL       string // https://<account>.blob.core.windows.net
	Container        string // created when missing
	Credential       azcore.TokenCredential
	ConnectionString string // instead of AccountURL and Credential

	Timeout    time.Duration      // per call; default 20s
	MaxRetries int                // transport retries per call; 0 means 2, negative means none
	Transport  policy.Transporter // optional HTTP client
}

// DevelopmentStorage is the connection-string shorthand for Azurite on its
// default port.
const DevelopmentStorage = "UseDevelopmentStorage=true"

// azuriteAccountKey is the documented, public key of Azurite's built-in
// development account devstoreaccount1.
const azuriteAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// AzuriteConnectionString is the connection string for Azurite's development
// account at a blob endpoint such as http://127.0.0.1:10000/devstoreaccount1.
func AzuriteConnectionString(blobEndpoint string) string {
	return "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + azuriteAccountKey +
		";BlobEndpoint=" + strings.TrimSuffix(blobEndpoint, "/") + ";"
}

const (
	incidentPrefix   = "incidents/"
	quarantinePrefix = "quarantine/"
	listConcurrency  = 8
)

// NewBlobStore connects to the container, creating it when missing.
func NewBlobStore(ctx context.Context, cfg BlobConfig) (*BlobStore, error) {
	if cfg.Container == "" {
		return nil, errors.New("ledger: blob: Container is required")
	}
	opts := &container.ClientOptions{}
	opts.Retry = policy.RetryOptions{MaxRetries: 2, RetryDelay: 100 * time.Millisecond, MaxRetryDelay: 2 * time.Second}
	switch {
	case cfg.MaxRetries < 0:
		opts.Retry.MaxRetries = -1
	case cfg.MaxRetries > 0:
		opts.Retry.MaxRetries = int32(cfg.MaxRetries)
	}
	if cfg.Transport != nil {
		opts.Transport = cfg.Transport
	}
	var (
		client *container.Client
		err    error
	)
	switch {
	case cfg.ConnectionString != "" && (cfg.AccountURL != "" || cfg.Credential != nil):
		return nil, errors.New("ledger: blob: set either ConnectionString or AccountURL with Credential, not both")
	case cfg.ConnectionString != "":
		cs := cfg.ConnectionString
		if strings.EqualFold(strings.TrimRight(cs, ";"), DevelopmentStorage) {
			cs = AzuriteConnectionString("http://127.0.0.1:10000/devstoreaccount1")
		}
		client, err = container.NewClientFromConnectionString(cs, cfg.Container, opts)
		if err != nil {
			// The parser's messages do not echo the string; ours must not either.
			return nil, fmt.Errorf("ledger: blob: invalid ConnectionString: %w", err)
		}
	case cfg.AccountURL != "" && cfg.Credential != nil:
		u := strings.TrimSuffix(cfg.AccountURL, "/") + "/" + cfg.Container
		client, err = container.NewClient(u, cfg.Credential, opts)
		if err != nil {
			return nil, fmt.Errorf("ledger: blob: %w", err)
		}
	default:
		return nil, errors.New("ledger: blob: set AccountURL and Credential (managed identity) or ConnectionString (Azurite)")
	}
	s := &BlobStore{client: client, name: cfg.Container, timeout: cfg.Timeout}
	if s.timeout <= 0 {
		s.timeout = 20 * time.Second
	}
	if err := s.ensureContainer(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *BlobStore) ensureContainer(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.client.GetProperties(ctx, nil)
	if err == nil {
		return nil
	}
	if !bloberror.HasCode(err, bloberror.ContainerNotFound) {
		return s.classify("open container", s.name, err)
	}
	_, err = s.client.Create(ctx, nil)
	if err == nil || bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return nil
	}
	return s.classify("create container", s.name, err)
}

// Claim implements Incidents.
func (s *BlobStore) Claim(ctx context.Context, in *incident.Incident) (*incident.Incident, bool, error) {
	if err := validID(in.ID); err != nil {
		return nil, false, err
	}
	data, mark, err := encodeBlob(in)
	if err != nil {
		return nil, false, err
	}
	name := incidentPrefix + in.ID + ".json"
	// The index marker goes out beside the claim (not after it): the claim
	// is on the critical path, and a marker without its incident is
	// harmless (skipped when read).
	var markErr error
	var marked sync.WaitGroup
	if sp := indexedSP(in); sp != "" {
		marked.Go(func() { _, markErr = s.put(ctx, indexPrefix+sp+"/"+in.ID, nil, nil, nil) })
	}
	etag, err := s.put(ctx, name, data, metadataOf(in), &blob.ModifiedAccessConditions{IfNoneMatch: new(azcore.ETagAny)})
	marked.Wait()
	if err == nil && markErr != nil {
		// The incident exists, its marker does not: the claim must be
		// retried so the marker is written (a second claim is a read).
		return nil, false, s.classify("claim", in.ID+" (index)", markErr)
	}
	if err == nil {
		in.ETag = joinETag(etag, mark)
		return in, true, nil
	}
	// Create-only conflicts come back as 409 BlobAlreadyExists (412 from
	// some proxies): the incident exists, read it.
	if !bloberror.HasCode(err, bloberror.BlobAlreadyExists) && !isStatus(err, http.StatusPreconditionFailed) {
		return nil, false, s.classify("claim", in.ID, err)
	}
	stored, err := s.Get(ctx, in.ID)
	if err != nil {
		return nil, false, fmt.Errorf("ledger: claim %s: read existing: %w", in.ID, err)
	}
	return stored, false, nil
}

// Get implements Incidents.
func (s *BlobStore) Get(ctx context.Context, id string) (*incident.Incident, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	data, etag, err := s.download(ctx, incidentPrefix+id+".json")
	if err != nil {
		return nil, s.classify("get", id, err)
	}
	return decodeBlob(id, data, etag)
}

// Update implements Incidents.
func (s *BlobStore) Update(ctx context.Context, in *incident.Incident) error {
	if err := validID(in.ID); err != nil {
		return err
	}
	if in.ETag == "" {
		return fmt.Errorf("ledger: update %s: no ETag: read the incident first", in.ID)
	}
	etag, stored, ok := splitETag(in.ETag)
	if !ok {
		return fmt.Errorf("%w: incident %s: ETag was not issued by this ledger", ErrConflict, in.ID)
	}
	if err := checkAppend(in.ID, stored, in.History); err != nil {
		return err
	}
	data, mark, err := encodeBlob(in)
	if err != nil {
		return err
	}
	newETag, err := s.put(ctx, incidentPrefix+in.ID+".json", data, metadataOf(in), &blob.ModifiedAccessConditions{IfMatch: &etag})
	if err != nil {
		return s.classify("update", in.ID, err)
	}
	in.ETag = joinETag(newETag, mark)
	return nil
}

// List implements Incidents.
func (s *BlobStore) List(ctx context.Context, f Filter) ([]*incident.Incident, error) {
	var ids []string
	err := s.list(ctx, incidentPrefix, func(it *container.BlobItem) {
		id, ok := strings.CutSuffix(strings.TrimPrefix(*it.Name, incidentPrefix), ".json")
		if ok && validID(id) == nil && !legacyControlID(id) && metadataMatch(f, it.Metadata) {
			ids = append(ids, id)
		}
	})
	if err != nil {
		return nil, s.classify("list", "incidents", err)
	}
	out := make([]*incident.Incident, len(ids))
	err = forEach(ctx, len(ids), func(ctx context.Context, i int) error {
		in, err := s.Get(ctx, ids[i])
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if f.Match(in) {
			out[i] = in
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: list: %w", err)
	}
	var matched []*incident.Incident
	for _, in := range out {
		if in != nil {
			matched = append(matched, in)
		}
	}
	sortIncidents(matched)
	return matched, nil
}

// Keep implements quarantine.Keeper.
func (s *BlobStore) Keep(ctx context.Context, it quarantine.Item) error {
	if err := validID(it.ID); err != nil {
		return err
	}
	meta, err := json.MarshalIndent(it, "", "  ")
	if err != nil {
		return fmt.Errorf("ledger: encode quarantined item %s: %w", it.ID, err)
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	create := &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: new(azcore.ETagAny)}}
	for _, f := range []struct {
		name, contentType string
		data              []byte
	}{
		{quarantinePrefix + it.ID + ".body", "application/octet-stream", it.Body},
		{quarantinePrefix + it.ID + ".json", "application/json", meta},
	} {
		// UploadBuffer sends one Put Blob up to 256 MiB and stages blocks
		// beyond; the condition applies to the final write either way.
		_, err := s.client.NewBlockBlobClient(f.name).UploadBuffer(ctx, f.data, &blockblob.UploadBufferOptions{
			HTTPHeaders:      &blob.HTTPHeaders{BlobContentType: &f.contentType},
			AccessConditions: create,
		})
		if err != nil && !bloberror.HasCode(err, bloberror.BlobAlreadyExists) && !isStatus(err, http.StatusPreconditionFailed) {
			return s.classify("keep", it.ID, err)
		}
	}
	return nil
}

// Quarantined implements Quarantine.
func (s *BlobStore) Quarantined(ctx context.Context) ([]quarantine.Item, error) {
	var names []string
	err := s.list(ctx, quarantinePrefix, func(it *container.BlobItem) {
		if strings.HasSuffix(*it.Name, ".json") {
			names = append(names, *it.Name)
		}
	})
	if err != nil {
		return nil, s.classify("list", "quarantine", err)
	}
	items := make([]quarantine.Item, len(names))
	found := make([]bool, len(names))
	err = forEach(ctx, len(names), func(ctx context.Context, i int) error {
		data, _, err := s.download(ctx, names[i])
		if bloberror.HasCode(err, bloberror.BlobNotFound) {
			return nil
		}
		if err != nil {
			return s.classify("read quarantined", names[i], err)
		}
		if err := json.Unmarshal(data, &items[i]); err != nil {
			return fmt.Errorf("ledger: decode quarantined %s: %w", names[i], err)
		}
		found[i] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: quarantined: %w", err)
	}
	var out []quarantine.Item
	for i := range items {
		if found[i] {
			out = append(out, items[i])
		}
	}
	sortItems(out)
	return out, nil
}

// QuarantinedBody implements Quarantine.
func (s *BlobStore) QuarantinedBody(ctx context.Context, id string) ([]byte, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	data, _, err := s.download(ctx, quarantinePrefix+id+".body")
	if err != nil {
		return nil, s.classify("read quarantined body", id, err)
	}
	return data, nil
}

// call bounds one ledger call.
func (s *BlobStore) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

func (s *BlobStore) put(ctx context.Context, name string, data []byte, md map[string]*string, cond *blob.ModifiedAccessConditions) (azcore.ETag, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	resp, err := s.client.NewBlockBlobClient(name).Upload(ctx, streaming.NopCloser(bytes.NewReader(data)), &blockblob.UploadOptions{
		Metadata:         md,
		HTTPHeaders:      &blob.HTTPHeaders{BlobContentType: new("application/json")},
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: cond},
	})
	if err != nil {
		return "", err
	}
	if resp.ETag == nil {
		return "", errors.New("response without ETag")
	}
	return *resp.ETag, nil
}

func (s *BlobStore) download(ctx context.Context, name string) ([]byte, azcore.ETag, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	resp, err := s.client.NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.ETag == nil {
		return nil, "", errors.New("response without ETag")
	}
	return data, *resp.ETag, nil
}

// list pages through the blobs under prefix, with their metadata, each page
// under its own call timeout.
func (s *BlobStore) list(ctx context.Context, prefix string, fn func(*container.BlobItem)) error {
	pager := s.client.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{
		Prefix:  &prefix,
		Include: container.ListBlobsInclude{Metadata: true},
	})
	for pager.More() {
		pctx, cancel := s.call(ctx)
		page, err := pager.NextPage(pctx)
		cancel()
		if err != nil {
			return err
		}
		for _, it := range page.Segment.BlobItems {
			if it != nil && it.Name != nil {
				fn(it)
			}
		}
	}
	return nil
}

// forEach runs fn for 0..n-1, listConcurrency at a time, and returns the
// first error (the others see their context cancelled).
func forEach(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listConcurrency)
	for i := range n {
		g.Go(func() error { return fn(gctx, i) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// Metadata kept with each incident blob, for List to filter on without
// downloading. Keys are lower case: the service does not preserve case.
const (
	mdState       = "state"
	mdAppID       = "appid"
	mdCreated     = "created"
	mdNextAttempt = "nextattempt"
)

// KeepAll keeps a batch of quarantined items with at most 8 uploads at a
// time, so a batch of junk costs a few round trips, not one per item.
func (s *BlobStore) KeepAll(ctx context.Context, items []quarantine.Item) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, it := range items {
		g.Go(func() error { return s.Keep(gctx, it) })
	}
	return g.Wait()
}

// byServicePrincipal lists the index markers of a service principal.
func (s *BlobStore) byServicePrincipal(ctx context.Context, spID string) ([]string, error) {
	var out []string
	prefix := indexPrefix + spID + "/"
	err := s.list(ctx, prefix, func(b *container.BlobItem) {
		if b.Name != nil {
			out = append(out, strings.TrimPrefix(*b.Name, prefix))
		}
	})
	if err != nil {
		return nil, s.classify("list index", spID, err)
	}
	return out, nil
}
