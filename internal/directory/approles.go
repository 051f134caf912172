package directory

// MicrosoftGraphAppID is the appId of Microsoft Graph's service principal,
// the same in every tenant; its object id differs per tenant.
const MicrosoftGraphAppID = "00000003-0000-0000-c000-000000000000"

// Principal is a service principal as setup and check read it: who it is,
// and the application permissions (app roles) it offers as a resource.
type Principal struct {
	ID          string // object id
	AppID       string
	DisplayName string
	Type        string // Application, ManagedIdentity, ...
	AppRoles    []AppRole
}

// AppRole is one permission a resource service principal offers, such as
// Microsoft Graph's Application.ReadWrite.All. Value is the name a token
// carries in its roles claim; ID is what an assignment refers to.
type AppRole struct {
	ID                 string
	Value              string
	AllowedMemberTypes []string
	Enabled            bool
}

// RoleID returns the id of the enabled app role named value (compared
// without regard to case), and whether there is one.
func (p Principal) RoleID(value string) (string, bool) {
	for _, r := range p.AppRoles {
		if r.Enabled && equalFold(r.Value, value) {
			return r.ID, true
		}
	}
	return "", false
}

// RoleName returns the name of the app role with this id.
func (p Principal) RoleName(id string) (string, bool) {
	for _, r := range p.AppRoles {
		if equalID(r.ID, id) {
			return r.Value, true
		}
	}
	return "", false
}

// AppRoleAssignment grants PrincipalID the app role AppRoleID of the
// resource service principal ResourceID.
type AppRoleAssignment struct {
	ID                  string
	PrincipalID         string
	ResourceID          string
	ResourceDisplayName string
	AppRoleID           string
}

func equalFold(a, b string) bool { return equalID(a, b) }
