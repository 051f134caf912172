# The Azure side of spresponder: where Entra's logs arrive (Event Hubs), the
# Functions app that runs the Go custom handler on Flex Consumption, its
# storage and incident ledger, the identity it runs as, its secrets, and what
# on-call looks at (Application Insights, a workbook, alert rules).
#
# Entra objects (Graph application permissions for the identity, the
# Conditional Access policy) are not here: `spresponder setup` makes them,
# because the azuread/msgraph providers cannot be validated offline.

data "azurerm_client_config" "current" {}

locals {
  # Globally unique names (storage, Key Vault, Event Hubs namespace, the
  # app's host name) need a suffix. It is derived rather than random: the
  # random provider is one more download, and a stable suffix lets a
  # destroyed deployment come back under the same names.
  suffix = substr(sha256("${data.azurerm_client_config.current.subscription_id}/${var.name}"), 0, 6)

  resource_group_name = coalesce(var.resource_group_name, "rg-${var.name}")

  names = {
    identity           = "id-${var.name}"
    eventhub_namespace = "evhns-${var.name}-${local.suffix}"
    storage_host       = "st${var.name}host${local.suffix}"
    storage_ledger     = "st${var.name}ldgr${local.suffix}"
    plan               = "asp-${var.name}"
    # Kept under 32 characters: longer names can collide on the host id the
    # Functions host derives from the name (the first 32 characters).
    function_app  = "func-${var.name}-${local.suffix}"
    key_vault     = "kv-${var.name}-${local.suffix}"
    log_analytics = "log-${var.name}"
    app_insights  = "appi-${var.name}"
  }

  # The tenant allow-list: by default the tenant deployed into, which is the
  # only tenant whose logs the diagnostic setting below streams.
  tenant_ids = length(var.tenant_ids) > 0 ? var.tenant_ids : [data.azurerm_client_config.current.tenant_id]

  tags = merge({ app = "spresponder", deployment = var.name }, var.tags)
}

resource "azurerm_resource_group" "main" {
  name     = local.resource_group_name
  location = var.location
  tags     = local.tags
}

# The identity the responder runs as: Graph (application permissions granted
# by `spresponder setup`), the ledger, the hub, the host's storage and
# telemetry. A user-assigned identity outlives the app, so the Graph grants
# survive re-creating the Function App.
resource "azurerm_user_assigned_identity" "responder" {
  name                = local.names.identity
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  tags                = local.tags
}
