# Data-plane roles only, each at the narrowest scope that works. The
# responder's identity has no control-plane role anywhere: it cannot change
# its own app, its settings (the kill switch) or these grants.
# Graph application permissions are granted by `spresponder setup`.

locals {
  responder_principal_id = azurerm_user_assigned_identity.responder.principal_id

  # What the Functions host needs on its own storage account, as Microsoft's
  # Flex Consumption templates grant it to an identity-based
  # AzureWebJobsStorage: blob (function keys, timer and singleton leases,
  # Event Hubs checkpoints, and so also the deployment container in the same
  # account), queue and table (host internals). Scoped to the host account,
  # which holds nothing of the responder's own.
  host_storage_roles = toset([
    "Storage Blob Data Owner",
    "Storage Queue Data Contributor",
    "Storage Table Data Contributor",
  ])
}

resource "azurerm_role_assignment" "host_storage" {
  for_each = local.host_storage_roles

  scope                = azurerm_storage_account.host.id
  role_definition_name = each.value
  principal_id         = local.responder_principal_id
  principal_type       = "ServicePrincipal"
}

# The incident ledger: read and write blobs in its container, nothing else in
# the account.
resource "azurerm_role_assignment" "ledger" {
  scope                = azurerm_storage_container.ledger.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = local.responder_principal_id
  principal_type       = "ServicePrincipal"
}

# The EntraLogs trigger reads the Entra hub (only that hub, not the
# namespace).
resource "azurerm_role_assignment" "hub_receiver" {
  scope                = azurerm_eventhub.entra.id
  role_definition_name = "Azure Event Hubs Data Receiver"
  principal_id         = local.responder_principal_id
  principal_type       = "ServicePrincipal"
}

# Telemetry signed with the identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING):
# the component accepts no key-only ingestion.
resource "azurerm_role_assignment" "telemetry" {
  scope                = azurerm_application_insights.main.id
  role_definition_name = "Monitoring Metrics Publisher"
  principal_id         = local.responder_principal_id
  principal_type       = "ServicePrincipal"
}

# The app's system identity resolves the webhook Key Vault references
# (function.tf says why it is not the user-assigned one): each secret on its
# own, read only.
resource "azurerm_role_assignment" "webhook_secret_reader" {
  for_each = local.secret_scopes

  scope                = each.value
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_function_app_flex_consumption.main.identity[0].principal_id
  principal_type       = "ServicePrincipal"
}

# People and pipelines that upload the package: the deployment container only.
resource "azurerm_role_assignment" "deployer_package" {
  for_each = toset(var.deployer_principal_ids)

  scope                = azurerm_storage_container.deployment.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = each.value
}

# On-call: `replay --hub` reads the hub with their own login, and the
# `incidents` commands read and resolve incidents in the ledger.
resource "azurerm_role_assignment" "oncall_hub" {
  for_each = toset(var.oncall_principal_ids)

  scope                = azurerm_eventhub.entra.id
  role_definition_name = "Azure Event Hubs Data Receiver"
  principal_id         = each.value
}

resource "azurerm_role_assignment" "oncall_ledger" {
  for_each = toset(var.oncall_principal_ids)

  scope                = azurerm_storage_container.ledger.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = each.value
}
