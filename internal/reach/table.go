package reach

// The shipped tier table. Written for this project from the facts gathered
// in reference/entra/permission-tiers.md (not copied from any tiering
// file): app role ids from Microsoft's own service principals as dumped in
// maciejporebski/azure-ad-first-party-apps-permissions (FPA) and
// Cloud-Architekt/AzurePrivilegedIAM (EO, MIT), checked against each other;
// Entra role template ids from Microsoft's permissions reference
// (ENTRA-DOC). Tiers follow the project's definition: critical = tenant
// takeover or control of security tooling, high = broad data read/write or
// destructive reach, normal = the rest. The Src field names the evidence
// ("AZT 0" = rated tier 0 in emiliensocchi/azure-tiering, cited as a fact,
// not copied; "EO 0" = EntraOps ControlPlane; "project" = our own call).
// A permission not in the table is normal and flagged unclassified: a
// person looks at it (Microsoft adds permissions faster than anyone tiers
// them). Tenants change any tier in the rules file (tiers:).

// Well-known resource appIds, the same in every tenant.
const (
	GraphAppID      = "00000003-0000-0000-c000-000000000000"
	DefenderAppID   = "fc780465-2017-40d4-a0c5-307022471b92" // WindowsDefenderATP
	ExchangeAppID   = "00000002-0000-0ff1-ce00-000000000000"
	SharePointAppID = "00000003-0000-0ff1-ce00-000000000000"
)

// Entry is one row of the table: a permission (by resource appId and app
// role id) or an Entra role (by template id, Resource empty).
type Entry struct {
	Resource string // resource appId; "" for a directory role
	ID       string // app role id, or role template id
	Name     string // permission value or role display name
	Tier     Tier
	// Could completes "this secret could ..." in plain words.
	Could string
	Src   string
}

func graphPerm(id, name string, t Tier, could, src string) Entry {
	return Entry{Resource: GraphAppID, ID: id, Name: name, Tier: t, Could: could, Src: src}
}

func mdePerm(id, name string, t Tier, could, src string) Entry {
	return Entry{Resource: DefenderAppID, ID: id, Name: name, Tier: t, Could: could, Src: src}
}

func role(id, name string, t Tier, could, src string) Entry {
	return Entry{ID: id, Name: name, Tier: t, Could: could, Src: src}
}

// Table returns the shipped table (a fresh copy).
func Table() []Entry {
	return []Entry{
		// Microsoft Graph: paths to Global Administrator or to any identity.
		graphPerm("1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", "Application.ReadWrite.All", Critical, "add a secret to any app and act as it, so grant itself any permission", "AZT 0; EO-AP graph-application-readwrite-all-impersonation"),
		graphPerm("fc023787-fd04-4e44-9bc7-d454f00c0f0a", "Application.ReadUpdate.All", Critical, "add a secret to any app and act as it", "AZT 0"),
		graphPerm("18a4783c-866b-4cc7-a460-3d5e5662c884", "Application.ReadWrite.OwnedBy", Critical, "add secrets to the apps it owns and act as them", "AZT 0"),
		graphPerm("06b708a9-e830-4db3-a914-8e69da51d44f", "AppRoleAssignment.ReadWrite.All", Critical, "grant itself any application permission without consent", "AZT 0; EO-AP graph-approleassignment-readwrite-escalation"),
		graphPerm("9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8", "RoleManagement.ReadWrite.Directory", Critical, "make anyone, itself included, Global Administrator", "AZT 0"),
		graphPerm("dd199f4a-f148-40a4-a2ec-f0069cc799ec", "RoleAssignmentSchedule.ReadWrite.Directory", Critical, "activate any directory role through PIM", "AZT 0"),
		graphPerm("fee28b28-e1f3-4841-818e-2704dc62245f", "RoleEligibilitySchedule.ReadWrite.Directory", Critical, "make anyone eligible for Global Administrator", "AZT 0"),
		graphPerm("a402ca1c-2696-4531-972d-6e5ee4aa11ea", "Policy.ReadWrite.PermissionGrant", Critical, "let itself consent to any permission", "AZT 0"),
		graphPerm("01c0a623-fc9b-48e9-b794-0756f8e8f067", "Policy.ReadWrite.ConditionalAccess", Critical, "switch off Conditional Access, including the policy that blocks this app", "AZT 0"),
		graphPerm("29c18626-4985-4dcd-85c0-193eef327366", "Policy.ReadWrite.AuthenticationMethod", Critical, "turn on sign-in methods that take over accounts", "AZT 0"),
		graphPerm("50483e42-d915-4231-9639-7fdb7fd190e5", "UserAuthenticationMethod.ReadWrite.All", Critical, "give itself a sign-in method for any user, administrators included", "AZT 0"),
		graphPerm("741f803b-c850-494e-b5df-cde7c675a1ca", "User.ReadWrite.All", Critical, "change any user, and with it who is in privileged groups", "AZT 0"),
		graphPerm("19dbc75e-c2e2-444c-a770-ec69d8559fc7", "Directory.ReadWrite.All", Critical, "join groups that hold privileges", "AZT 0"),
		graphPerm("62a82d76-70ea-41e2-9197-370581804d09", "Group.ReadWrite.All", Critical, "join groups that hold privileges", "AZT 0"),
		graphPerm("dbaae8cf-10b5-4b86-a4a1-f871c94c6695", "GroupMember.ReadWrite.All", Critical, "join groups that hold privileges", "AZT 0"),
		graphPerm("7e05723c-0bb0-42da-be95-ae9f08a6e53c", "Domain.ReadWrite.All", Critical, "federate a domain and sign in as any user", "AZT 0; EO-AP graph-domain-readwrite-all"),
		graphPerm("292d869f-3427-49a8-9dab-8c70152b74e9", "Organization.ReadWrite.All", Critical, "trust its own certificate authority and sign in as an administrator", "AZT 0"),
		graphPerm("9241abd9-d0e6-425a-bd4f-47ba86e767a4", "DeviceManagementConfiguration.ReadWrite.All", Critical, "run code on administrators' managed devices", "AZT 0"),
		graphPerm("9255e99d-faf5-445e-bbf7-cb71482737c4", "DeviceManagementScripts.ReadWrite.All", Critical, "run scripts on managed devices", "AZT 0"),
		// Security tooling: lifted to critical by the project's definition.
		graphPerm("cb8d6980-6bcb-4507-afec-ed6de3a2d798", "IdentityRiskyServicePrincipal.ReadWrite.All", Critical, "dismiss its own risk, blinding this responder and risk-based Conditional Access", "project (AZT 1, EO 0)"),
		graphPerm("656f6061-f9fe-4807-9708-6a2e0934df76", "IdentityRiskyUser.ReadWrite.All", Critical, "dismiss user risk", "project (AZT 1, EO 0)"),
		graphPerm("34bf0e97-1971-4929-b999-9e2442d941d7", "SecurityIncident.ReadWrite.All", Critical, "close security incidents", "project (AZT 1, EO 0)"),
		graphPerm("ed4fca05-be46-441f-9803-1873825f8fdb", "SecurityAlert.ReadWrite.All", Critical, "resolve security alerts", "project (AZT 1, EO 0)"),
		// Microsoft Graph: broad data.
		graphPerm("e2a3a72e-5f79-4c64-b1b1-878b674786c9", "Mail.ReadWrite", High, "read and change every mailbox", "AZT 1"),
		graphPerm("810c84a8-4a9e-49e6-bf7d-12d183f40d01", "Mail.Read", High, "read every mailbox", "AZT 1"),
		graphPerm("b633e1c5-b582-4048-a93e-9f11b44c7e96", "Mail.Send", High, "send mail as any user", "AZT 1"),
		graphPerm("01d4889c-1287-42c6-ac1f-5d1e02578ef6", "Files.Read.All", High, "read every OneDrive and SharePoint file", "AZT 1"),
		graphPerm("75359482-378d-4052-8f01-80520e7db3cd", "Files.ReadWrite.All", High, "read and change every OneDrive and SharePoint file", "AZT 1"),
		graphPerm("332a536c-c7ef-4017-ab91-336970924f0d", "Sites.Read.All", High, "read every SharePoint site", "AZT 1"),
		graphPerm("9492366f-7969-46a4-8d15-ed1a20078fff", "Sites.ReadWrite.All", High, "read and change every SharePoint site", "AZT 1"),
		graphPerm("6b7d71aa-70aa-4810-a8d9-5d9fb2830017", "Chat.Read.All", High, "read every Teams chat", "AZT 1"),
		graphPerm("57f1cf28-c0c4-4ec3-9a30-19a2eaaf2f6e", "BitlockerKey.Read.All", High, "read every BitLocker key", "AZT 1"),
		graphPerm("884b599e-4d48-43a5-ba94-15c414d00588", "DeviceLocalCredential.Read.All", High, "read local administrator passwords (LAPS)", "AZT 1"),
		graphPerm("8e8e4742-1d95-4f68-9d56-6ee75648c72a", "DelegatedPermissionGrant.ReadWrite.All", High, "grant delegated permissions to any app", "AZT 1; EO 0"),
		// Microsoft Graph: reading the directory (recon).
		graphPerm("7ab1d382-f21e-4acd-a863-ba3e13f7da61", "Directory.Read.All", Normal, "read the directory", "AZT 2"),
		graphPerm("df021288-bdef-4463-88db-98f22de89214", "User.Read.All", Normal, "read every user's profile", "AZT 2"),
		graphPerm("9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30", "Application.Read.All", Normal, "read every app registration", "AZT 2"),
		graphPerm("246dd0d5-5bd0-4def-940b-0421030a5b68", "Policy.Read.All", Normal, "read the tenant's policies", "AZT 1; project"),

		// Defender for Endpoint (WindowsDefenderATP): project calls, EO rates writes 0.
		mdePerm("1629b959-c0af-42a1-92f0-f6162060bdf1", "Machine.LiveResponse", Critical, "run scripts and move files on any device in Defender for Endpoint", "EO 0; MDE-DOC run-live-response"),
		mdePerm("41d209c7-2511-4fc9-b899-8008a3976f09", "Library.Manage", Critical, "upload the scripts Live Response runs", "EO 0"),
		mdePerm("594435bf-36dd-4548-83bd-1bdafe157d7a", "Machine.Offboard", Critical, "take any device out of Defender for Endpoint", "EO 0"),
		mdePerm("7e4e1300-e1b9-4102-88ba-f0cb6e6d5974", "Machine.Isolate", Critical, "isolate any device in Defender for Endpoint, or lift an isolation", "EO 0"),
		mdePerm("96b6b35d-074d-4e2d-b167-8d68d9269648", "Machine.RestrictExecution", Critical, "restrict or release what runs on any device in Defender for Endpoint", "EO 0"),
		mdePerm("96e72b5e-7e68-4171-aad1-3937599e4751", "Machine.StopAndQuarantine", Critical, "stop and quarantine files on every device", "EO 0"),
		mdePerm("fc511a58-3adf-4d71-af24-00f13e35e479", "Ti.ReadWrite.All", Critical, "add allow indicators that blind Defender for Endpoint", "EO 0"),
		mdePerm("0f7000ec-157b-497f-b70e-ef0b0584f140", "Alert.ReadWrite.All", Critical, "resolve or suppress Defender alerts", "EO 0"),
		mdePerm("aa027352-232b-4ed4-b963-a705fc4d6d2c", "Machine.ReadWrite.All", High, "change device records and tags in Defender for Endpoint", "EO 0; project"),
		mdePerm("15405ab2-2103-4a3c-ad80-e829841cedcc", "Machine.CollectForensics", High, "collect investigation packages from any device", "EO 0; project"),
		mdePerm("93489bf5-0fbc-4f2d-b901-33f2fe08ff05", "AdvancedQuery.Read.All", High, "read all Defender for Endpoint telemetry", "EO 1"),
		mdePerm("a86d9824-b2b6-45f8-b042-16bc4922ed4e", "Machine.Scan", Normal, "start antivirus scans", "EO 0; project"),
		mdePerm("ea8291d3-4b9a-44b5-bc3a-6cea3026dc79", "Machine.Read.All", Normal, "read device information", "EO 1"),

		// Exchange Online and SharePoint Online: same ids as Graph, other resource.
		{Resource: ExchangeAppID, ID: "dc890d15-9560-4a4c-9b7f-a736ec74ec40", Name: "full_access_as_app", Tier: High, Could: "read and change every mailbox through EWS", Src: "EO 1"},
		{Resource: ExchangeAppID, ID: "dc50a0fb-09a3-484d-be87-e023b12c6440", Name: "Exchange.ManageAsApp", Tier: High, Could: "run Exchange PowerShell as the app (its directory role decides how far)", Src: "EO 1; EXO-DOC"},
		{Resource: SharePointAppID, ID: "678536fe-1083-478a-9c59-b99265e6b0d3", Name: "Sites.FullControl.All", Tier: High, Could: "control every SharePoint site", Src: "EO 1"},
		{Resource: SharePointAppID, ID: "741f803b-c850-494e-b5df-cde7c675a1ca", Name: "User.ReadWrite.All", Tier: Normal, Could: "change SharePoint user profiles", Src: "EO 1 (not Graph's User.ReadWrite.All)"},

		// Entra built-in roles (template ids).
		role("62e90394-69f5-4237-9190-012177145e10", "Global Administrator", Critical, "do anything in the tenant", "AZT-E 0"),
		role("e8611ab8-c189-46e8-94e1-60213ab1f814", "Privileged Role Administrator", Critical, "make itself Global Administrator", "AZT-E 0"),
		role("7be44c8a-adaf-4e2a-84d6-ab2649e08a13", "Privileged Authentication Administrator", Critical, "reset any user's sign-in, administrators included", "AZT-E 0"),
		role("9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "Application Administrator", Critical, "add a secret to any app and act as it", "AZT-E 0"),
		role("158c047a-c907-4556-b7ef-446551a6b5f7", "Cloud Application Administrator", Critical, "add a secret to any app and act as it", "AZT-E 0"),
		role("194ae4cb-b126-40b2-bd5b-6091b380977d", "Security Administrator", Critical, "change Conditional Access and the security tools", "AZT-E 0"),
		role("b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", "Conditional Access Administrator", Critical, "switch off Conditional Access", "AZT-E 0"),
		role("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator", Critical, "reset users and change groups", "AZT-E 0"),
		role("8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2", "Hybrid Identity Administrator", Critical, "change federation and sign in as users", "AZT-E 0"),
		role("3a2c62db-5318-420d-8d74-23affee5d9d5", "Intune Administrator", Critical, "run code on administrators' devices", "AZT-E 0"),
		role("29232cdf-9323-42fd-ade2-1d097af3e4de", "Exchange Administrator", Critical, "change groups that hold privileges, and every mailbox", "AZT-E 0 (EO 1)"),
		role("5f2222b1-57c3-48ba-8ad5-d4759f1fde6f", "Security Operator", Critical, "control Defender alerts", "project (AZT-E 1, EO 0)"),
		role("f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader", High, "read all of the tenant's configuration", "AZT-E 1"),
		role("5d6b6bb7-de71-4623-b4af-96380a352509", "Security Reader", High, "read all security data", "AZT-E 1"),
		role("88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "Directory Readers", Normal, "read the directory", "ENTRA-DOC; project"),
	}
}
