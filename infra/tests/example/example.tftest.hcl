# infra/example.tfvars plans: run as
#   tofu test -test-directory=tests/example -var-file=example.tfvars
# (scripts/infra-check.sh does), so the example cannot drift from the
# variables' types and validations. A separate directory because every run in
# it needs that file's values, and a plain `tofu test` does not pass them.

# The same mock as tests/plan.tftest.hcl (a test file cannot share one):
# resource ids in the shapes the provider's own validation accepts.
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

run "example_tfvars_plans" {
  command = plan

  assert {
    condition     = length(azurerm_monitor_action_group.oncall) == (length(var.alert_emails) > 0 ? 1 : 0)
    error_message = "alert_emails must produce the action group"
  }
  assert {
    condition     = length(azurerm_role_assignment.deployer_package) == length(var.deployer_principal_ids) && length(azurerm_role_assignment.oncall_hub) == length(var.oncall_principal_ids)
    error_message = "deployers and on-call must get their role assignments"
  }
}
