package server

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// TestFunctionsHaveRoutes holds host.json, every functions/<Name>/function.json
// and the server to one contract: the host POSTs /<Name> for each folder, so
// each folder needs a route (and each route a folder), and the trigger
// binding's name must be the key the decoder reads.
func TestFunctionsHaveRoutes(t *testing.T) {
	root := filepath.Join("..", "..")
	var host struct {
		Version         string
		ExtensionBundle struct{ ID, Version string }
		CustomHandler   struct {
			Description struct {
				DefaultExecutablePath string
				Arguments             []string
			}
			EnableForwardingHTTPRequest bool `json:"enableForwardingHttpRequest"`
		}
		Extensions struct {
			EventHubs struct {
				MaxEventBatchSize        int
				MinEventBatchSize        int
				BatchCheckpointFrequency int
				PrefetchCount            int
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &host); err != nil {
		t.Fatalf("host.json: %v", err)
	}
	if host.Version != "2.0" || host.ExtensionBundle.ID != "Microsoft.Azure.Functions.ExtensionBundle" || host.ExtensionBundle.Version != "[4.*, 5.0.0)" {
		t.Errorf("host.json bundle/version = %+v %q", host.ExtensionBundle, host.Version)
	}
	if d := host.CustomHandler.Description; d.DefaultExecutablePath != "spresponder" || !slices.Equal(d.Arguments, []string{"serve"}) {
		t.Errorf("customHandler = %+v: the zip ships ./spresponder and the host must start `serve`", d)
	}
	eh := host.Extensions.EventHubs
	if eh.MaxEventBatchSize < 1 || eh.MinEventBatchSize != 1 || eh.BatchCheckpointFrequency != 1 || eh.PrefetchCount < eh.MaxEventBatchSize {
		t.Errorf("eventHubs settings = %+v", eh)
	}

	dirs, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	nameRE := regexp.MustCompile(`(?i)^[a-z][a-z0-9_\-]{0,127}$`)
	var folders []string
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		name := d.Name()
		folders = append(folders, name)
		if !nameRE.MatchString(name) {
			t.Errorf("function folder %q is not a valid function name", name)
		}
		var fn struct {
			Bindings []map[string]any
			Retry    map[string]any
		}
		fb, err := os.ReadFile(filepath.Join(root, "functions", name, "function.json"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := json.Unmarshal(fb, &fn); err != nil {
			t.Fatalf("%s/function.json: %v", name, err)
		}
		if len(fn.Bindings) == 0 {
			t.Errorf("%s: no bindings", name)
		}
		for _, bd := range fn.Bindings {
			if bd["type"] != "eventHubTrigger" {
				continue
			}
			if bd["name"] != EventsBinding {
				t.Errorf("%s: trigger binding %q, decoder reads %q", name, bd["name"], EventsBinding)
			}
			if bd["cardinality"] != "many" || bd["dataType"] != "string" {
				t.Errorf("%s: cardinality/dataType = %v/%v, want many/string", name, bd["cardinality"], bd["dataType"])
			}
			if bd["connection"] != "EntraEventHub" || bd["eventHubName"] != "%ENTRA_EVENTHUB_NAME%" || bd["consumerGroup"] != "%ENTRA_CONSUMER_GROUP%" {
				t.Errorf("%s: connection settings = %v", name, bd)
			}
			if fn.Retry["strategy"] == nil || fn.Retry["maxRetryCount"] == nil {
				t.Errorf("%s: no retry policy: a failed batch would be checkpointed at once", name)
			}
		}
	}
	routes := Routes()
	slices.Sort(routes)
	slices.Sort(folders)
	if !slices.Equal(routes, folders) {
		t.Errorf("function folders %v, server routes %v", folders, routes)
	}
}
