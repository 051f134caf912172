# The notification webhooks are bearer secrets (whoever has the URL can post
# into the channel or page on-call). They live in Key Vault, written with
# write-only arguments so they never reach the Terraform state, and reach the
# app as Key Vault references: the value never appears in the app's
# configuration either.

locals {
  # Which secrets exist is not secret, only their values are: nonsensitive()
  # reveals presence, so count can use it.
  webhook_secrets = {
    "teams-webhook"      = nonsensitive(var.teams_webhook_url != null)
    "teams-app-webhooks" = nonsensitive(length(var.teams_app_webhooks) > 0)
    "pager-webhook"      = nonsensitive(var.pager_webhook_url != null)
    "teams-bearer-token" = nonsensitive(var.teams_bearer_token != null)
    "phone-webhook"      = nonsensitive(var.security_phone_webhook_url != null)
  }
}

# tfsec:ignore:azure-keyvault-specify-network-acl Key Vault references from a Flex Consumption app do not work through a network-restricted vault (the platform resolves them over the public endpoint), so the vault cannot default to Deny; access is RBAC only, per secret.
resource "azurerm_key_vault" "main" {
  name                = local.names.key_vault
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tenant_id           = data.azurerm_client_config.current.tenant_id
  sku_name            = "standard"
  # RBAC, not access policies: the app's identity is granted each secret on
  # its own (Key Vault Secrets User at secret scope), nothing vault-wide.
  rbac_authorization_enabled = true
  purge_protection_enabled   = true
  soft_delete_retention_days = 30
  tags                       = local.tags
}

# Whoever runs `tofu apply` writes the secrets, so needs to be allowed to.
resource "azurerm_role_assignment" "deployer_secrets_officer" {
  scope                = azurerm_key_vault.main.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
}

# tfsec:ignore:azure-keyvault-ensure-secret-expiry A Teams Workflows or pager webhook URL has no expiry of its own; an expiry here would only make the Key Vault reference fail and silence notifications on a date nobody chose. Rotation is by replacing the URL (webhook_secrets_version).
resource "azurerm_key_vault_secret" "teams_webhook" {
  count = local.webhook_secrets["teams-webhook"] ? 1 : 0

  name             = "teams-webhook"
  key_vault_id     = azurerm_key_vault.main.id
  content_type     = "text/uri-list"
  value_wo         = var.teams_webhook_url
  value_wo_version = var.webhook_secrets_version
  tags             = local.tags

  depends_on = [azurerm_role_assignment.deployer_secrets_officer]
}

# tfsec:ignore:azure-keyvault-ensure-secret-expiry Webhook URLs have no expiry of their own (see teams_webhook).
resource "azurerm_key_vault_secret" "teams_app_webhooks" {
  count = local.webhook_secrets["teams-app-webhooks"] ? 1 : 0

  name         = "teams-app-webhooks"
  key_vault_id = azurerm_key_vault.main.id
  # The format SPRESPONDER_TEAMS_APP_WEBHOOKS takes: appId=url pairs joined
  # by ';'.
  content_type     = "text/plain; format=appId=url;..."
  value_wo         = join(";", [for app, url in var.teams_app_webhooks : "${app}=${url}"])
  value_wo_version = var.webhook_secrets_version
  tags             = local.tags

  depends_on = [azurerm_role_assignment.deployer_secrets_officer]
}

# tfsec:ignore:azure-keyvault-ensure-secret-expiry Webhook URLs have no expiry of their own (see teams_webhook).
resource "azurerm_key_vault_secret" "pager_webhook" {
  count = local.webhook_secrets["pager-webhook"] ? 1 : 0

  name             = "pager-webhook"
  key_vault_id     = azurerm_key_vault.main.id
  content_type     = "text/uri-list"
  value_wo         = var.pager_webhook_url
  value_wo_version = var.webhook_secrets_version
  tags             = local.tags

  depends_on = [azurerm_role_assignment.deployer_secrets_officer]
}

# tfsec:ignore:azure-keyvault-ensure-secret-expiry The flow's token has the expiry its issuer gave it; prefer teams_token_audience (a managed-identity token per post) over a stored token.
resource "azurerm_key_vault_secret" "teams_bearer_token" {
  count = local.webhook_secrets["teams-bearer-token"] ? 1 : 0

  name             = "teams-bearer-token"
  key_vault_id     = azurerm_key_vault.main.id
  content_type     = "text/plain"
  value_wo         = var.teams_bearer_token
  value_wo_version = var.webhook_secrets_version
  tags             = local.tags

  depends_on = [azurerm_role_assignment.deployer_secrets_officer]
}

# tfsec:ignore:azure-keyvault-ensure-secret-expiry Webhook URLs have no expiry of their own (see teams_webhook).
resource "azurerm_key_vault_secret" "phone_webhook" {
  count = local.webhook_secrets["phone-webhook"] ? 1 : 0

  name             = "security-phone-webhook"
  key_vault_id     = azurerm_key_vault.main.id
  content_type     = "text/uri-list"
  value_wo         = var.security_phone_webhook_url
  value_wo_version = var.webhook_secrets_version
  tags             = local.tags

  depends_on = [azurerm_role_assignment.deployer_secrets_officer]
}

locals {
  # App setting values: a versionless reference (a new secret version
  # reaches the app when the platform refreshes references, within a day, or
  # on restart), or "" when the webhook is not configured, which the
  # responder reads as "off".
  keyvault_reference = {
    teams_webhook      = join("", [for s in azurerm_key_vault_secret.teams_webhook : "@Microsoft.KeyVault(SecretUri=${s.versionless_id})"])
    teams_app_webhooks = join("", [for s in azurerm_key_vault_secret.teams_app_webhooks : "@Microsoft.KeyVault(SecretUri=${s.versionless_id})"])
    pager_webhook      = join("", [for s in azurerm_key_vault_secret.pager_webhook : "@Microsoft.KeyVault(SecretUri=${s.versionless_id})"])
    teams_bearer_token = join("", [for s in azurerm_key_vault_secret.teams_bearer_token : "@Microsoft.KeyVault(SecretUri=${s.versionless_id})"])
    act_key            = join("", [for s in azurerm_key_vault_secret.act_key : "@Microsoft.KeyVault(SecretUri=${s.versionless_id})"])
    act_key_previous   = join("", [for s in azurerm_key_vault_secret.act_key_previous : "@Microsoft.KeyVault(SecretUri=${s.versionless_id})"])
    phone_webhook      = join("", [for s in azurerm_key_vault_secret.phone_webhook : "@Microsoft.KeyVault(SecretUri=${s.versionless_id})"])
  }

  # Secret-scoped role assignments for the identity that resolves the
  # references (see function.tf for why it is the app's system identity).
  secret_scopes = merge(
    { for s in azurerm_key_vault_secret.teams_webhook : "teams-webhook" => s.resource_versionless_id },
    { for s in azurerm_key_vault_secret.teams_app_webhooks : "teams-app-webhooks" => s.resource_versionless_id },
    { for s in azurerm_key_vault_secret.pager_webhook : "pager-webhook" => s.resource_versionless_id },
    { for s in azurerm_key_vault_secret.teams_bearer_token : "teams-bearer-token" => s.resource_versionless_id },
    { for s in azurerm_key_vault_secret.act_key : "act-key" => s.resource_versionless_id },
    { for s in azurerm_key_vault_secret.act_key_previous : "act-key-previous" => s.resource_versionless_id },
    { for s in azurerm_key_vault_secret.phone_webhook : "security-phone-webhook" => s.resource_versionless_id },
  )
}
