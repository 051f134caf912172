# Action links (the act page, /api/act): a person approves a held removal,
# marks a false positive or closes a rotated credential from the card or the
# mail. The links are signed with a key kept in Key Vault (written
# write-only, like the webhooks), and the page needs the app's Entra ID
# sign-in (auth_settings_v2 in function.tf) to take a decision.

locals {
  act_secrets = {
    "act-key"          = nonsensitive(var.act_signing_key != null)
    "act-key-previous" = nonsensitive(var.act_signing_key_previous != null)
  }
}

# tfsec:ignore:azure-keyvault-ensure-secret-expiry The signing key is rotated by a person (act_signing_key_previous keeps old links valid meanwhile); an expiry would silently break every link on a date nobody chose.
resource "azurerm_key_vault_secret" "act_key" {
  count = local.act_secrets["act-key"] ? 1 : 0

  name             = "act-signing-key"
  key_vault_id     = azurerm_key_vault.main.id
  content_type     = "text/plain; format=base64"
  value_wo         = var.act_signing_key
  value_wo_version = var.webhook_secrets_version
  tags             = local.tags

  depends_on = [azurerm_role_assignment.deployer_secrets_officer]
}

# tfsec:ignore:azure-keyvault-ensure-secret-expiry See act_key.
resource "azurerm_key_vault_secret" "act_key_previous" {
  count = local.act_secrets["act-key-previous"] ? 1 : 0

  name             = "act-signing-key-previous"
  key_vault_id     = azurerm_key_vault.main.id
  content_type     = "text/plain; format=base64"
  value_wo         = var.act_signing_key_previous
  value_wo_version = var.webhook_secrets_version
  tags             = local.tags

  depends_on = [azurerm_role_assignment.deployer_secrets_officer]
}
