# The Function App: Flex Consumption, custom runtime (host.json starts
# `spresponder serve`), code from a blob container.

resource "azurerm_service_plan" "main" {
  name                = local.names.plan
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  os_type             = "Linux"
  # FC1 is Flex Consumption; the flex resource refuses any other plan.
  sku_name = "FC1"
  tags     = local.tags
}

resource "azurerm_function_app_flex_consumption" "main" {
  name                = local.names.function_app
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  service_plan_id     = azurerm_service_plan.main.id

  # A Go custom handler: the platform's "custom" stack, version 1.0 (the only
  # one it lists). FUNCTIONS_WORKER_RUNTIME is deliberately absent from the
  # app settings: Flex takes the runtime from here and refuses that setting.
  runtime_name    = "custom"
  runtime_version = "1.0"

  # The deployment package (dist/spresponder.zip) is read from this container
  # with the user-assigned identity. No keys are involved anywhere.
  storage_container_type            = "blobContainer"
  storage_container_endpoint        = azurerm_storage_container.deployment.url
  storage_authentication_type       = "UserAssignedIdentity"
  storage_user_assigned_identity_id = azurerm_user_assigned_identity.responder.id

  maximum_instance_count = var.function_maximum_instance_count
  instance_memory_in_mb  = var.function_instance_memory_mb

  # Flex scales EntraLogs on its own ("function:<Name>"); an always-ready
  # instance keeps the path from the hub to containment free of cold starts.
  dynamic "always_ready" {
    for_each = var.always_ready_instances > 0 ? [var.always_ready_instances] : []
    content {
      name           = "function:EntraLogs"
      instance_count = always_ready.value
    }
  }

  https_only = true
  # Deployment goes through OneDeploy with an Entra ID token or straight to
  # the blob container; publishing with a basic-auth password is not needed.
  webdeploy_publish_basic_authentication_enabled = false

  identity {
    # UserAssigned: everything the responder does (Graph, ledger, hub, host
    # storage, telemetry). SystemAssigned: only to resolve the Key Vault
    # references. The platform resolves references with the system identity
    # unless the site's keyVaultReferenceIdentity names another, and
    # azurerm_function_app_flex_consumption has no argument for that property
    # (its Linux/Windows siblings have key_vault_reference_identity_id), so
    # the system identity is granted exactly the webhook secrets and nothing
    # else (keyvault.tf, roles.tf).
    type         = "SystemAssigned, UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.responder.id]
  }

  site_config {
    application_insights_connection_string = azurerm_application_insights.main.connection_string
    minimum_tls_version                    = "1.2"
    scm_minimum_tls_version                = "1.2"
    http2_enabled                          = true
    # No health_check_path: the Health function needs a function key, and the
    # platform's health probe sends none (every instance would look sick).
  }

  app_settings = local.app_settings

  # Entra ID sign-in (App Service Authentication, "Easy Auth") for the act
  # page (act.tf). Unauthenticated requests are let through
  # (AllowAnonymous), because the other functions must keep working as they
  # are: EntraLogs and Sweep are not HTTP, Replay and Health keep their
  # function keys, and the platform's own /admin calls carry none of a
  # person's sign-in. The act page itself sends a person without a sign-in
  # to /.auth/login/aad and never takes a decision without one; the
  # platform strips X-MS-CLIENT-PRINCIPAL* from outside requests and sets
  # WEBSITE_AUTH_ENABLED, which is what the responder trusts.
  dynamic "auth_settings_v2" {
    for_each = var.act_auth_client_id == null ? [] : [var.act_auth_client_id]
    content {
      auth_enabled           = true
      require_authentication = false
      unauthenticated_action = "AllowAnonymous"
      default_provider       = "azureactivedirectory"
      require_https          = true

      active_directory_v2 {
        client_id            = auth_settings_v2.value
        tenant_auth_endpoint = "https://login.microsoftonline.com/${local.tenant_ids[0]}/v2.0"
        # No client secret: the sign-in asks for an ID token only, so no
        # secret sits in the app's settings.
        allowed_audiences = [auth_settings_v2.value]
      }

      login {
        # The page reads who signed in, never the person's tokens.
        token_store_enabled = false
      }
    }
  }

  tags = local.tags

  lifecycle {
    precondition {
      # The same rule internal/config enforces at start-up, caught at plan
      # time instead of as an app that will not start.
      condition     = length(var.security_contacts) > 0 || (var.mail_from == "" && !local.webhook_secrets["teams-webhook"] && !local.webhook_secrets["teams-app-webhooks"])
      error_message = "security_contacts: required when notifications are on (mail_from, teams_webhook_url or teams_app_webhooks is set): it receives every incident, and those of apps without a reachable owner."
    }
    precondition {
      # internal/config refuses SPRESPONDER_ACT_URL without a key at start-up.
      condition     = var.act_url == "" || var.act_signing_key != null
      error_message = "act_signing_key: required with act_url (the action links' signing key, openssl rand -base64 32)."
    }
  }
}
