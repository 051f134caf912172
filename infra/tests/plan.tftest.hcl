# `tofu test` against a mocked azurerm (the real provider's schema, no Azure):
# what the configuration computes from its inputs, and that the validations
# and preconditions refuse what internal/config would refuse at start-up.
# scripts/infra-check.sh runs it; nothing here needs credentials.

# Keep in step with the copy in tests/example/example.tftest.hcl.
mock_provider "azurerm" {
  # The caller's identity, as a real login would give it: the tenant id
  # becomes the tenant allow-list, so it must look like one.
  mock_data "azurerm_client_config" {
    defaults = {
      tenant_id       = "7f3c1a52-0d3e-4f3a-9a7e-2f1b6c4d8e90"
      subscription_id = "0b6f2c1e-5a4d-4e8f-9c3b-1d2e3f4a5b6c"
      object_id       = "c5e4d3b2-a190-4f8e-8d7c-6b5a49382716"
      client_id       = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
    }
  }

  # Computed attributes the configuration reads, with the shapes Azure gives
  # them: the mock would otherwise make up random strings, and the real
  # provider (whose validation still runs) refuses those as resource ids.
  mock_resource "azurerm_resource_group" {
    defaults = { id = "/subscriptions/0b6f2c1e-5a4d-4e8f-9c3b-1d2e3f4a5b6c/resourceGroups/rg-sprtest" }
  }
  mock_resource "azurerm_eventhub_namespace" {
    defaults = { id = "/subscriptions/0b6f2c1e-5a4d-4e8f-9c3b-1d2e3f4a5b6c/resourceGroups/rg-sprtest/providers/Microsoft.EventHub/namespaces/evhns-sprtest-000000" }
  }
  mock_resource "azurerm_eventhub" {
    defaults = { id = "/subscriptions/0b6f2c1e-5a4d-4e8f-9c3b-1d2e3f4a5b6c/resourceGroups/rg-sprtest/providers/Microsoft.EventHub/namespaces/evhns-sprtest-000000/eventhubs/entra-logs" }
  }
  mock_resource "azurerm_eventhub_consumer_group" {
    defaults = { id = "/subscriptions/0b6f2c1e-5a4d-4e8f-9c3b-1d2e3f4a5b6c/resourceGroups/rg-sprtest/providers/Microsoft.EventHub/namespaces/evhns-sprtest-000000/eventhubs/entra-logs/consumerGroups/spresponder" }
  }
  mock_resource "azurerm_eventhub_namespace_authorization_rule" {
    defaults = { id = "/subscriptions/0b6f2c1e-5a4d-4e8f-9c3b-1d2e3f4a5b6c/resourceGroups/rg-sprtest/providers/Microsoft.EventHub/namespaces/evhns-sprtest-000000/authorizationRules/entra-diagnostic-setting" }
  }
  mock_resource "azurerm_key_vault" {
    defaults = {
      id        = "/subscriptions/0b6f2c1e-5a4d-4e8f-9c3b-1d2e3f4a5b6c/resourceGroups/rg-sprtest/providers/Microsoft.KeyVault/vaults/kv-sprtest-000000"
      vault_uri = "https://kv-sprtest-000000.vault.azure.net/"
    }
  }
  mock_resource "azurerm_service_plan" {
    defaults = { id = "/subscriptions/0b6f2c1e-5a4d-4e8f-9c3b-1d2e3f4a5b6c/resourceGroups/rg-sprtest/providers/Microsoft.Web/serverFarms/asp-sprtest" }
  }
  mock_resource "azurerm_log_analytics_workspace" {
    defaults = { id = "/subscriptions/0b6f2c1e-5a4d-4e8f-9c3b-1d2e3f4a5b6c/resourceGroups/rg-sprtest/providers/Microsoft.OperationalInsights/workspaces/log-sprtest" }
  }
  mock_resource "azurerm_application_insights" {
    defaults = {
      id                = "/subscriptions/0b6f2c1e-5a4d-4e8f-9c3b-1d2e3f4a5b6c/resourceGroups/rg-sprtest/providers/Microsoft.Insights/components/appi-sprtest"
      connection_string = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://swedencentral-0.in.applicationinsights.azure.com/"
    }
  }
  mock_resource "azurerm_monitor_action_group" {
    defaults = { id = "/subscriptions/0b6f2c1e-5a4d-4e8f-9c3b-1d2e3f4a5b6c/resourceGroups/rg-sprtest/providers/Microsoft.Insights/actionGroups/ag-sprtest-oncall" }
  }
  mock_resource "azurerm_storage_account" {
    defaults = {
      id                    = "/subscriptions/0b6f2c1e-5a4d-4e8f-9c3b-1d2e3f4a5b6c/resourceGroups/rg-sprtest/providers/Microsoft.Storage/storageAccounts/stsprtestldgr000000"
      primary_blob_endpoint = "https://stsprtestldgr000000.blob.core.windows.net/"
    }
  }
  mock_resource "azurerm_storage_container" {
    defaults = {
      id  = "/subscriptions/0b6f2c1e-5a4d-4e8f-9c3b-1d2e3f4a5b6c/resourceGroups/rg-sprtest/providers/Microsoft.Storage/storageAccounts/stsprtesthost000000/blobServices/default/containers/app-package"
      url = "https://stsprtesthost000000.blob.core.windows.net/app-package"
    }
  }
  mock_resource "azurerm_key_vault_secret" {
    defaults = {
      id                      = "https://kv-sprtest-000000.vault.azure.net/secrets/teams-webhook/0123456789abcdef0123456789abcdef"
      versionless_id          = "https://kv-sprtest-000000.vault.azure.net/secrets/teams-webhook"
      resource_versionless_id = "/subscriptions/0b6f2c1e-5a4d-4e8f-9c3b-1d2e3f4a5b6c/resourceGroups/rg-sprtest/providers/Microsoft.KeyVault/vaults/kv-sprtest-000000/secrets/teams-webhook"
    }
  }
  mock_resource "azurerm_user_assigned_identity" {
    defaults = {
      id           = "/subscriptions/0b6f2c1e-5a4d-4e8f-9c3b-1d2e3f4a5b6c/resourceGroups/rg-sprtest/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-sprtest"
      client_id    = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
      principal_id = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
    }
  }
  mock_resource "azurerm_function_app_flex_consumption" {
    defaults = {
      id = "/subscriptions/0b6f2c1e-5a4d-4e8f-9c3b-1d2e3f4a5b6c/resourceGroups/rg-sprtest/providers/Microsoft.Web/sites/func-sprtest-000000"
      # Blocks are overridden by an object (each block of the list gets it).
      identity = {
        principal_id = "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e"
        tenant_id    = "7f3c1a52-0d3e-4f3a-9a7e-2f1b6c4d8e90"
      }
    }
  }
}

variables {
  name     = "sprtest"
  location = "swedencentral"
}

run "defaults" {
  command = apply

  assert {
    condition     = azurerm_function_app_flex_consumption.main.runtime_name == "custom" && azurerm_function_app_flex_consumption.main.runtime_version == "1.0"
    error_message = "the Function App must run the custom handler stack, custom 1.0"
  }
  assert {
    condition     = !contains(keys(azurerm_function_app_flex_consumption.main.app_settings), "FUNCTIONS_WORKER_RUNTIME")
    error_message = "FUNCTIONS_WORKER_RUNTIME must not be set on Flex Consumption"
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.main.app_settings["AzureWebJobsStorage"] == "" && azurerm_function_app_flex_consumption.main.app_settings["AzureWebJobsStorage__credential"] == "managedidentity"
    error_message = "AzureWebJobsStorage must be overridden with an empty value and the identity-based settings"
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.main.app_settings["SPRESPONDER_TENANTS"] == "7f3c1a52-0d3e-4f3a-9a7e-2f1b6c4d8e90"
    error_message = "the tenant allow-list must default to the deploying tenant"
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.main.app_settings["SPRESPONDER_MODE"] == "dry-run" && azurerm_function_app_flex_consumption.main.app_settings["SPRESPONDER_KILL_SWITCH"] == "false"
    error_message = "a new deployment must start in dry-run with the kill switch off"
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.main.app_settings["SPRESPONDER_LEDGER_ACCOUNT_URL"] == "https://stsprtestldgr000000.blob.core.windows.net"
    error_message = "the ledger URL must be the blob endpoint without its trailing slash"
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.main.app_settings["SPRESPONDER_MANAGED_IDENTITY_CLIENT_ID"] == "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d" && azurerm_function_app_flex_consumption.main.app_settings["EntraEventHub__clientId"] == "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
    error_message = "the responder and its trigger must use the user-assigned identity's client id"
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.main.app_settings["SPRESPONDER_FAILED_SECRET_CODES"] == "7000215,7000222"
    error_message = "failed-secret codes must be comma-separated whole numbers"
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.main.app_settings["SPRESPONDER_TEAMS_WEBHOOK"] == "" && length(azurerm_key_vault_secret.teams_webhook) == 0 && length(azurerm_role_assignment.webhook_secret_reader) == 0
    error_message = "without webhooks there are no secrets, no grants and empty settings"
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.main.storage_authentication_type == "UserAssignedIdentity" && azurerm_function_app_flex_consumption.main.storage_container_endpoint == "https://stsprtesthost000000.blob.core.windows.net/app-package"
    error_message = "the package must be read from the deployment container with the user-assigned identity"
  }
  assert {
    condition     = [for a in azurerm_function_app_flex_consumption.main.always_ready : a.name] == ["function:EntraLogs"]
    error_message = "one always-ready instance group, for the EntraLogs function"
  }
  assert {
    condition     = toset([for l in azurerm_monitor_aad_diagnostic_setting.entra[0].enabled_log : l.category]) == toset(["ServicePrincipalSignInLogs", "ServicePrincipalRiskEvents", "RiskyServicePrincipals", "AuditLogs"])
    error_message = "the diagnostic setting must stream exactly the four categories the responder reads"
  }
  assert {
    condition     = azurerm_monitor_aad_diagnostic_setting.entra[0].eventhub_name == azurerm_eventhub.entra.name
    error_message = "the diagnostic setting must stream to the Entra hub"
  }
  assert {
    condition     = length(jsondecode(azurerm_application_insights_workbook.main.data_json).items) == 8
    error_message = "the workbook must hold its intro, its time parameter and six query steps"
  }
  assert {
    condition     = alltrue([for i in jsondecode(azurerm_application_insights_workbook.main.data_json).items : i.type != 3 || length(trimspace(i.content.query)) > 0])
    error_message = "every workbook query step must carry a query"
  }
  assert {
    condition     = length(azurerm_monitor_scheduled_query_rules_alert_v2.main) == 4 && length(azurerm_monitor_action_group.oncall) == 0
    error_message = "four alert rules, and no action group without alert_emails"
  }
  assert {
    condition     = azurerm_storage_account.host.shared_access_key_enabled == false && azurerm_storage_account.ledger.shared_access_key_enabled == false
    error_message = "storage must refuse shared keys"
  }
  assert {
    condition     = output.app_setting_names == sort(keys(azurerm_function_app_flex_consumption.main.app_settings))
    error_message = "the app_setting_names output must list the app's settings"
  }
}

run "webhooks_become_key_vault_references" {
  command = apply

  variables {
    teams_webhook_url  = "https://example.invalid/workflows/teams"
    pager_webhook_url  = "https://example.invalid/pager"
    teams_app_webhooks = { "3f2e1d0c-9b8a-4765-a432-10fedcba9876" = "https://example.invalid/workflows/app" }
    security_contacts  = ["security@example.invalid"]
  }

  assert {
    condition     = length(azurerm_key_vault_secret.teams_webhook) == 1 && length(azurerm_key_vault_secret.pager_webhook) == 1 && length(azurerm_key_vault_secret.teams_app_webhooks) == 1
    error_message = "each configured webhook must become a Key Vault secret"
  }
  assert {
    condition = alltrue([
      for k in ["SPRESPONDER_TEAMS_WEBHOOK", "SPRESPONDER_PAGER_WEBHOOK", "SPRESPONDER_TEAMS_APP_WEBHOOKS"] :
      azurerm_function_app_flex_consumption.main.app_settings[k] == "@Microsoft.KeyVault(SecretUri=https://kv-sprtest-000000.vault.azure.net/secrets/teams-webhook)"
    ])
    error_message = "webhook settings must be versionless Key Vault references, never the URL"
  }
  assert {
    condition     = length(azurerm_role_assignment.webhook_secret_reader) == 3 && alltrue([for r in azurerm_role_assignment.webhook_secret_reader : r.role_definition_name == "Key Vault Secrets User" && r.principal_id == "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e"])
    error_message = "the app's system identity (which resolves references) must read each secret, and only as Secrets User"
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.main.app_settings["SPRESPONDER_SECURITY_CONTACT"] == "security@example.invalid"
    error_message = "security contacts must be passed through"
  }
}

run "act_links_key_vault_and_sign_in" {
  command = apply

  variables {
    act_url            = "https://func-sprtest.azurewebsites.net"
    act_signing_key    = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaA=="
    act_group          = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    act_auth_client_id = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
  }

  assert {
    condition     = length(azurerm_key_vault_secret.act_key) == 1 && startswith(azurerm_function_app_flex_consumption.main.app_settings["SPRESPONDER_ACT_KEY"], "@Microsoft.KeyVault(SecretUri=")
    error_message = "the signing key must be a Key Vault reference, never the key"
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.main.app_settings["SPRESPONDER_ACT_KEY_PREVIOUS"] == "" && azurerm_function_app_flex_consumption.main.app_settings["SPRESPONDER_ACT_URL"] == "https://func-sprtest.azurewebsites.net"
    error_message = "no previous key unless given; the URL passed through"
  }
  assert {
    condition = (length(azurerm_function_app_flex_consumption.main.auth_settings_v2) == 1 &&
      azurerm_function_app_flex_consumption.main.auth_settings_v2[0].auth_enabled &&
      !azurerm_function_app_flex_consumption.main.auth_settings_v2[0].require_authentication &&
    azurerm_function_app_flex_consumption.main.auth_settings_v2[0].unauthenticated_action == "AllowAnonymous")
    error_message = "sign-in must be on without requiring it of every route (Replay and Health keep their function keys)"
  }
}

run "act_url_needs_a_key" {
  command = plan

  variables {
    act_url = "https://func-sprtest.azurewebsites.net"
  }

  expect_failures = [azurerm_function_app_flex_consumption.main]
}

run "notifications_need_a_security_contact" {
  command = plan

  variables {
    teams_webhook_url = "https://example.invalid/workflows/teams"
  }

  expect_failures = [azurerm_function_app_flex_consumption.main]
}

run "mail_needs_a_security_contact" {
  command = plan

  variables {
    mail_from = "spresponder@example.invalid"
  }

  expect_failures = [azurerm_function_app_flex_consumption.main]
}

run "premium_capacity_must_be_a_power_of_two" {
  command = plan

  variables {
    eventhub_sku      = "Premium"
    eventhub_capacity = 3
  }

  expect_failures = [azurerm_eventhub_namespace.main]
}

run "rejects_bad_inputs" {
  command = plan

  variables {
    name                        = "Spr_Test"
    mode                        = "enforcing"
    tenant_ids                  = ["not-a-tenant"]
    breaker_window              = "1 hour"
    stage_deadline              = "0s"
    function_instance_memory_mb = 1024
    eventhub_sku                = "Basic"
    teams_webhook_url           = "http://example.invalid/plain-http"
    alert_no_event_window       = "PT7M"
  }

  expect_failures = [
    var.name,
    var.mode,
    var.tenant_ids,
    var.breaker_window,
    var.stage_deadline,
    var.function_instance_memory_mb,
    var.eventhub_sku,
    var.teams_webhook_url,
    var.alert_no_event_window,
  ]
}
