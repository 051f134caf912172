terraform {
  # OpenTofu >= 1.11 or Terraform >= 1.11: the webhook secrets are written
  # with write-only arguments (value_wo), so they never land in the state.
  required_version = ">= 1.11.0"

  required_providers {
    azurerm = {
      source = "hashicorp/azurerm"
      # 5.x: the Flex Consumption resource accepts runtime_name = "custom",
      # and 5.0 renamed the arguments used here (rbac_authorization_enabled,
      # local_authentication_enabled, storage_account_id, namespace_id).
      version = ">= 5.2.0, < 6.0.0"
    }
  }
}

provider "azurerm" {
  # 5.x registers no resource providers by default: name the ones this
  # configuration creates resources in (a no-op where they are registered).
  resource_providers_to_register = [
    "Microsoft.EventHub",
    "Microsoft.Insights",
    "Microsoft.KeyVault",
    "Microsoft.ManagedIdentity",
    "Microsoft.OperationalInsights",
    "Microsoft.Storage",
    "Microsoft.Web",
  ]

  # The storage accounts refuse shared keys (see storage.tf), so the provider
  # must talk to their data plane with Entra ID too.
  storage_use_azuread = true

  features {
    key_vault {
      # Purge protection is on (keyvault.tf): never try to purge on destroy.
      purge_soft_delete_on_destroy = false
    }
  }
}
