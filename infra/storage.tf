# Two storage accounts, on purpose:
#   host   - the Functions host's own storage (keys, timer and trigger leases,
#            Event Hubs checkpoints) and the deployment package container;
#   ledger - the incident ledger, the responder's audit trail.
# The host needs broad data roles on its account (below); keeping the ledger
# elsewhere means those roles reach nothing the audit trail depends on, and
# the ledger account can keep versions and deleted blobs for an audit.
# Both refuse shared keys: everything authenticates with Entra ID.

# tfsec:ignore:azure-storage-queue-services-logging-enabled azurerm 5.x moved queue properties to azurerm_storage_account_queue_properties, which tfsec does not read; the host's queues carry no responder data (the ledger is in its own account).
resource "azurerm_storage_account" "host" {
  name                     = local.names.storage_host
  resource_group_name      = azurerm_resource_group.main.name
  location                 = azurerm_resource_group.main.location
  account_kind             = "StorageV2"
  account_tier             = "Standard"
  account_replication_type = "LRS"
  min_tls_version          = "TLS1_2"
  # No keys: the host reaches it with AzureWebJobsStorage__credential =
  # managedidentity, and the deployment with the user-assigned identity.
  shared_access_key_enabled       = false
  default_to_oauth_authentication = true
  allow_nested_items_to_be_public = false
  # Public endpoint: Flex Consumption reaches its host and deployment storage over the public endpoint unless the app is VNet-integrated with private endpoints, which this configuration does not set up; access is Entra ID only (no keys), which is the control here.
  public_network_access_enabled = true
  tags                          = local.tags
}

resource "azurerm_storage_container" "deployment" {
  # Flex Consumption runs the package it finds here (functionAppConfig
  # deployment storage); `az functionapp deploy` writes it.
  name                  = "app-package"
  storage_account_id    = azurerm_storage_account.host.id
  container_access_type = "private"
}

# tfsec:ignore:azure-storage-queue-services-logging-enabled The ledger account holds blobs only (no queues); azurerm 5.x also moved queue logging to azurerm_storage_account_queue_properties, which tfsec does not read.
resource "azurerm_storage_account" "ledger" {
  name                            = local.names.storage_ledger
  resource_group_name             = azurerm_resource_group.main.name
  location                        = azurerm_resource_group.main.location
  account_kind                    = "StorageV2"
  account_tier                    = "Standard"
  account_replication_type        = var.ledger_replication_type
  min_tls_version                 = "TLS1_2"
  shared_access_key_enabled       = false
  default_to_oauth_authentication = true
  allow_nested_items_to_be_public = false
  # Public endpoint: the responder on Flex Consumption (no VNet here) and on-call's CLI reach the ledger over the public endpoint; access is Entra ID only, scoped to the ledger container.
  public_network_access_enabled = true
  tags                          = local.tags

  blob_properties {
    # The ledger is the audit trail: every overwrite keeps the previous
    # version and a deleted blob can be recovered, so neither a bug nor a
    # person with write access can silently rewrite history.
    versioning_enabled = true
    delete_retention_policy {
      days = 30
    }
    container_delete_retention_policy {
      days = 30
    }
  }
}

resource "azurerm_storage_container" "ledger" {
  name                  = "spresponder-ledger"
  storage_account_id    = azurerm_storage_account.ledger.id
  container_access_type = "private"
}

# Versions are kept for an audit, not forever: the ledger rewrites lease and
# breaker blobs often, and every overwrite is a billed version.
resource "azurerm_storage_management_policy" "ledger" {
  storage_account_id = azurerm_storage_account.ledger.id

  rule {
    name    = "expire-old-versions"
    enabled = true
    filters {
      blob_types = ["blockBlob"]
    }
    actions {
      version {
        delete_after_days_since_creation = var.ledger_version_retention_days
      }
    }
  }
}
