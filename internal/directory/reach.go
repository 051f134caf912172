package directory

// The types below serve the reach of a leaked credential (internal/reach):
// what a service principal can do besides its application permissions
// (AppRoleAssignment): the Entra directory roles it holds and the delegated
// permissions consented to it. They are read after containment, never on
// its path.

// RoleAssignment is an active Entra directory role assignment of a
// principal (Graph's unifiedRoleAssignment). For a built-in role
// RoleDefinitionID is the role's template id, the same in every tenant.
type RoleAssignment struct {
	ID               string
	PrincipalID      string
	RoleDefinitionID string
	// RoleName is the role definition's display name when Graph expanded
	// it ("" otherwise).
	RoleName string
	// DirectoryScopeID is "/" for the whole tenant, or an administrative
	// unit or object the assignment is limited to.
	DirectoryScopeID string
}

// DelegatedGrant is a delegated permission grant (Graph's
// oAuth2PermissionGrant): the client may act on behalf of a signed-in user
// (ConsentType "Principal", for PrincipalID only) or of any user
// ("AllPrincipals") with the space-separated Scope on the resource
// service principal ResourceID.
type DelegatedGrant struct {
	ID          string
	ClientID    string
	ConsentType string
	PrincipalID string
	ResourceID  string
	Scope       string
}
