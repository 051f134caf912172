# The use of a leaked credential (internal/usage): after containment the
# responder reads the sign-ins with the key from the hub's retained events,
# read only and without checkpoints, through a consumer group of its own
# (a group allows five readers per partition; the trigger holds one of its
# group's), and from a Log Analytics workspace when one is named.
resource "azurerm_eventhub_consumer_group" "usage" {
  name                = "spresponder-usage"
  namespace_name      = azurerm_eventhub_namespace.main.name
  eventhub_name       = azurerm_eventhub.entra.name
  resource_group_name = azurerm_resource_group.main.name
  user_metadata       = "spresponder: sign-ins with a leaked key (read only, no checkpoints)"
}

# The query of AADServicePrincipalSignInLogs needs read access to the
# workspace's data, nothing more.
resource "azurerm_role_assignment" "usage_workspace_reader" {
  count = var.usage_workspace_resource_id == "" ? 0 : 1

  scope                = var.usage_workspace_resource_id
  role_definition_name = "Log Analytics Reader"
  principal_id         = local.responder_principal_id
  principal_type       = "ServicePrincipal"
}
