# What the next steps need: `spresponder setup` (Graph permissions for the
# identity), the deployment of dist/spresponder.zip, and on-call's CLI.

output "resource_group_name" {
  description = "The resource group holding everything."
  value       = azurerm_resource_group.main.name
}

output "function_app_name" {
  description = "The Function App: az functionapp deploy --name <this> --resource-group <resource_group_name> --src-path dist/spresponder.zip --type zip."
  value       = azurerm_function_app_flex_consumption.main.name
}

output "function_app_hostname" {
  description = "Host name of the app: the Replay and Health functions are https://<this>/api/replay and /api/health (function key required)."
  value       = azurerm_function_app_flex_consumption.main.default_hostname
}

output "identity_client_id" {
  description = "Client id of the responder's user-assigned identity (SPRESPONDER_MANAGED_IDENTITY_CLIENT_ID)."
  value       = azurerm_user_assigned_identity.responder.client_id
}

output "identity_principal_id" {
  description = "Object (principal) id of the responder's identity: `spresponder setup` grants the Graph application permissions to it."
  value       = azurerm_user_assigned_identity.responder.principal_id
}

output "identity_id" {
  description = "Resource id of the responder's user-assigned identity."
  value       = azurerm_user_assigned_identity.responder.id
}

output "eventhub_namespace" {
  description = "Fully qualified Event Hubs namespace (EntraEventHub__fullyQualifiedNamespace; `replay --hub --hub-namespace`)."
  value       = local.eventhub_fqdn
}

output "eventhub_name" {
  description = "The hub the Entra diagnostic setting streams to (ENTRA_EVENTHUB_NAME)."
  value       = azurerm_eventhub.entra.name
}

output "eventhub_consumer_groups" {
  description = "Consumer groups: the responder's (checkpointed by the host) and on-call's (for `replay --hub --consumer-group`)."
  value = {
    responder = azurerm_eventhub_consumer_group.responder.name
    oncall    = azurerm_eventhub_consumer_group.oncall.name
    usage     = azurerm_eventhub_consumer_group.usage.name
  }
}

output "entra_diagnostics_authorization_rule_id" {
  description = "The namespace rule an Entra diagnostic setting sends with, for whoever creates the setting by hand when entra_diagnostic_setting = false."
  value       = azurerm_eventhub_namespace_authorization_rule.entra_diagnostics.id
}

output "entra_log_categories" {
  description = "The Entra log categories the diagnostic setting must stream to the hub."
  value       = local.entra_log_categories
}

output "deployment_container_url" {
  description = "The blob container Flex Consumption runs the package from (az storage blob upload --auth-mode login --blob-url <this>/spresponder.zip ...)."
  value       = azurerm_storage_container.deployment.url
}

output "ledger_account_url" {
  description = "Blob endpoint of the ledger's account (SPRESPONDER_LEDGER_ACCOUNT_URL; on-call's CLI uses the same)."
  value       = local.app_settings["SPRESPONDER_LEDGER_ACCOUNT_URL"]
}

output "ledger_container" {
  description = "The ledger's container (SPRESPONDER_LEDGER_CONTAINER)."
  value       = azurerm_storage_container.ledger.name
}

output "key_vault_uri" {
  description = "The Key Vault holding the webhook secrets."
  value       = azurerm_key_vault.main.vault_uri
}

output "application_insights_id" {
  description = "The Application Insights component the workbook and alerts read."
  value       = azurerm_application_insights.main.id
}

output "workbook_id" {
  description = "The spresponder workbook (Azure portal: Monitor > Workbooks)."
  value       = azurerm_application_insights_workbook.main.id
}

output "app_setting_names" {
  description = "Names of the app settings the Function App gets (values may be secret references)."
  value       = sort(keys(local.app_settings))
}
