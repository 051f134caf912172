package graphsim

import (
	"encoding/json"
	"fmt"
)

// LoadApp is a generated application with one client secret that a
// leakedCredentials detection names: load for benchmarks and
// multi-process tests.
type LoadApp struct {
	AppID, ObjectID, ServicePrincipalID, KeyID, DetectionID, DisplayName string
}

// AddLeakedApps adds n such applications to the seed, modelled on the
// seed's first application, service principal, detection and risky
// service principal (so they carry the same owners and shapes). The ids are
// deterministic.
func (s *Seed) AddLeakedApps(n int) ([]LoadApp, error) {
	if len(s.Applications) == 0 || len(s.ServicePrincipals) == 0 || len(s.ServicePrincipalRiskDetections) == 0 || len(s.RiskyServicePrincipals) == 0 {
		return nil, fmt.Errorf("graphsim: the seed needs an application, service principal, detection and risky service principal to copy")
	}
	var apps []LoadApp
	for i := range n {
		guid := func(kind int) string { return fmt.Sprintf("%08x-%04x-4000-8000-%012x", 0x5e000000+i, kind, i) }
		a := LoadApp{AppID: guid(1), ObjectID: guid(2), ServicePrincipalID: guid(3), KeyID: guid(4),
			DetectionID: fmt.Sprintf("load%048d", i), DisplayName: fmt.Sprintf("load-app-%03d", i)}
		var app Application
		var sp ServicePrincipal
		var det ServicePrincipalRiskDetection
		var risky RiskyServicePrincipal
		if err := deepCopy(&app, s.Applications[0]); err != nil {
			return nil, err
		}
		if err := deepCopy(&sp, s.ServicePrincipals[0]); err != nil {
			return nil, err
		}
		if err := deepCopy(&det, s.ServicePrincipalRiskDetections[0]); err != nil {
			return nil, err
		}
		if err := deepCopy(&risky, s.RiskyServicePrincipals[0]); err != nil {
			return nil, err
		}
		app.ID, app.AppID, app.DisplayName, app.Tags, app.KeyCredentials = a.ObjectID, a.AppID, a.DisplayName, nil, nil
		if len(app.PasswordCredentials) == 0 {
			return nil, fmt.Errorf("graphsim: the first application has no secret to copy")
		}
		app.PasswordCredentials = app.PasswordCredentials[:1]
		app.PasswordCredentials[0].KeyID = a.KeyID
		sp.ID, sp.AppID, sp.DisplayName, sp.PasswordCredentials, sp.KeyCredentials, sp.Tags = a.ServicePrincipalID, a.AppID, a.DisplayName, nil, nil, nil
		det.ID, det.ServicePrincipalID, det.AppID, det.ServicePrincipalDisplayName, det.KeyIDs = a.DetectionID, a.ServicePrincipalID, a.AppID, a.DisplayName, []string{a.KeyID}
		risky.ID, risky.AppID, risky.DisplayName = a.ServicePrincipalID, a.AppID, a.DisplayName
		s.Applications = append(s.Applications, app)
		s.ServicePrincipals = append(s.ServicePrincipals, sp)
		s.ServicePrincipalRiskDetections = append(s.ServicePrincipalRiskDetections, det)
		s.RiskyServicePrincipals = append(s.RiskyServicePrincipals, risky)
		apps = append(apps, a)
	}
	return apps, s.Validate()
}

func deepCopy(dst, src any) error {
	b, err := json.Marshal(src)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}
