# Where Entra's diagnostic logs arrive. One hub for the four categories the
# responder reads; the intake skips other categories cheaply, but there are
# none: the diagnostic setting below sends only these.

locals {
  # The Entra log categories the responder reads (internal/entra). Names as
  # the diagnostic settings API spells them.
  entra_log_categories = [
    "ServicePrincipalSignInLogs",
    "ServicePrincipalRiskEvents",
    "RiskyServicePrincipals",
    "AuditLogs",
  ]

  # Public cloud host name; the Event Hubs trigger and `replay --hub` take the
  # fully qualified namespace, which the provider does not export.
  eventhub_fqdn = "${azurerm_eventhub_namespace.main.name}.servicebus.windows.net"
}

resource "azurerm_eventhub_namespace" "main" {
  name                = local.names.eventhub_namespace
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  sku                 = var.eventhub_sku
  capacity            = var.eventhub_capacity
  minimum_tls_version = "1.2"
  # SAS stays on, and not by choice: Entra diagnostic settings stream to an
  # Event Hub only through a namespace shared-access rule (they take no
  # managed identity). The responder itself reads with its identity, and no
  # key is handed to it or written to an app setting.
  local_authentication_enabled = true
  tags                         = local.tags

  lifecycle {
    precondition {
      condition     = var.eventhub_sku != "Premium" || contains([1, 2, 4, 8, 16], var.eventhub_capacity)
      error_message = "eventhub_capacity: a Premium namespace takes 1, 2, 4, 8 or 16 processing units."
    }
  }
}

resource "azurerm_eventhub" "entra" {
  name              = "entra-logs"
  namespace_id      = azurerm_eventhub_namespace.main.id
  partition_count   = var.eventhub_partition_count
  message_retention = var.eventhub_retention_days
}

# The responder's own consumer group: the Functions host keeps its
# checkpoints per group, so nothing else may read with it.
resource "azurerm_eventhub_consumer_group" "responder" {
  name                = "spresponder"
  namespace_name      = azurerm_eventhub_namespace.main.name
  eventhub_name       = azurerm_eventhub.entra.name
  resource_group_name = azurerm_resource_group.main.name
  user_metadata       = "spresponder EntraLogs trigger (checkpointed by the Functions host)"
}

# On-call replay (`spresponder replay --hub --consumer-group oncall`) reads
# time ranges without checkpoints; a group of its own keeps those readers
# from counting against the responder's per-partition reader limit.
resource "azurerm_eventhub_consumer_group" "oncall" {
  name                = "oncall"
  namespace_name      = azurerm_eventhub_namespace.main.name
  eventhub_name       = azurerm_eventhub.entra.name
  resource_group_name = azurerm_resource_group.main.name
  user_metadata       = "on-call replay (read only, no checkpoints)"
}

# The rule Entra's diagnostic setting sends with. It must be a namespace-level
# rule (the setting takes no hub-level rule), and Azure Monitor's streaming
# documents Manage, Send and Listen as the rights it needs. Nothing else uses
# it.
resource "azurerm_eventhub_namespace_authorization_rule" "entra_diagnostics" {
  name                = "entra-diagnostic-setting"
  namespace_name      = azurerm_eventhub_namespace.main.name
  resource_group_name = azurerm_resource_group.main.name
  listen              = true
  send                = true
  manage              = true
}

resource "azurerm_monitor_aad_diagnostic_setting" "entra" {
  count = var.entra_diagnostic_setting ? 1 : 0

  # Tenant-wide: the name must be unique in the tenant, hence the deployment
  # name in it.
  name                           = "spresponder-${var.name}"
  eventhub_authorization_rule_id = azurerm_eventhub_namespace_authorization_rule.entra_diagnostics.id
  eventhub_name                  = azurerm_eventhub.entra.name

  dynamic "enabled_log" {
    for_each = local.entra_log_categories
    content {
      category = enabled_log.value
    }
  }
}
