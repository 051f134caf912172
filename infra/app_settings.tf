# Every application setting of the Function App, in one map.
#
# internal/deploytest holds this map to the code: its keys must be exactly
# the settings internal/config reads (less the two it names as not for
# Azure), the settings functions/*/function.json bind to, and the platform
# settings listed there. Keep one key per line: the test reads this block.

locals {
  app_settings = {
    # --- Functions host storage, identity-based ---------------------------
    # The provider always writes AzureWebJobsStorage as a key-based
    # connection string built from storage_access_key, which is empty with
    # identity auth (hashicorp/terraform-provider-azurerm#29693). An empty
    # value overrides it (app settings win, case-insensitively) and the host
    # then uses the __ settings: the user-assigned identity on the account.
    AzureWebJobsStorage              = ""
    AzureWebJobsStorage__accountName = azurerm_storage_account.host.name
    AzureWebJobsStorage__credential  = "managedidentity"
    AzureWebJobsStorage__clientId    = azurerm_user_assigned_identity.responder.client_id

    # --- telemetry --------------------------------------------------------
    # APPLICATIONINSIGHTS_CONNECTION_STRING comes from site_config. The
    # component refuses key-only ingestion (monitoring.tf), so the host signs
    # its telemetry with the identity.
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING = "ClientId=${azurerm_user_assigned_identity.responder.client_id};Authorization=AAD"

    # --- the EntraLogs trigger (functions/EntraLogs/function.json) -------
    # connection "EntraEventHub": identity-based, no connection string.
    EntraEventHub__fullyQualifiedNamespace = local.eventhub_fqdn
    EntraEventHub__credential              = "managedidentity"
    EntraEventHub__clientId                = azurerm_user_assigned_identity.responder.client_id
    ENTRA_EVENTHUB_NAME                    = azurerm_eventhub.entra.name
    ENTRA_CONSUMER_GROUP                   = azurerm_eventhub_consumer_group.responder.name

    # --- the responder (internal/config) ----------------------------------
    SPRESPONDER_MODE                    = var.mode
    SPRESPONDER_KILL_SWITCH             = tostring(var.kill_switch)
    SPRESPONDER_TENANTS                 = join(",", local.tenant_ids)
    SPRESPONDER_MAX_EVENT_BYTES         = tostring(var.max_event_bytes)
    SPRESPONDER_FAILED_SECRET_THRESHOLD = tostring(var.failed_secret_threshold)
    SPRESPONDER_FAILED_SECRET_CODES     = join(",", [for c in var.failed_secret_codes : tostring(c)])
    # The package directory is read-only on Flex; only CLI-style paths write
    # here (the service keeps its ledger and quarantine in blob storage).
    SPRESPONDER_STATE_DIR                  = "/tmp/spresponder"
    SPRESPONDER_RULES                      = var.rules_file
    SPRESPONDER_BREAKER_LIMIT              = tostring(var.breaker_limit)
    SPRESPONDER_BREAKER_WINDOW             = var.breaker_window
    SPRESPONDER_LEDGER                     = "blob"
    SPRESPONDER_LEDGER_ACCOUNT_URL         = trimsuffix(azurerm_storage_account.ledger.primary_blob_endpoint, "/")
    SPRESPONDER_LEDGER_CONTAINER           = azurerm_storage_container.ledger.name
    SPRESPONDER_GRAPH_URL                  = var.graph_url
    SPRESPONDER_MANAGED_IDENTITY_CLIENT_ID = azurerm_user_assigned_identity.responder.client_id
    SPRESPONDER_TEAMS_WEBHOOK              = local.keyvault_reference.teams_webhook
    SPRESPONDER_TEAMS_APP_WEBHOOKS         = local.keyvault_reference.teams_app_webhooks
    SPRESPONDER_MAIL_FROM                  = var.mail_from
    SPRESPONDER_SECURITY_CONTACT           = join(",", var.security_contacts)
    SPRESPONDER_PAGER_WEBHOOK              = local.keyvault_reference.pager_webhook
    SPRESPONDER_SECURITY_PHONE_WEBHOOK     = local.keyvault_reference.phone_webhook
    SPRESPONDER_STAGE_DEADLINE             = var.stage_deadline
    SPRESPONDER_LOG_LEVEL                  = var.log_level
    SPRESPONDER_SHUTDOWN_TIMEOUT           = var.shutdown_timeout
    SPRESPONDER_REPLAY_EXECUTE             = tostring(var.replay_execute)
    SPRESPONDER_NOTIFY_DEADLINE            = var.notify_deadline
    # 1 + the EntraLogs retry policy's maxRetryCount (functions/EntraLogs/function.json).
    SPRESPONDER_BATCH_ATTEMPTS = "6"
    # Empty: derived from host.json and the instance's memory
    # (instance_memory_in_mb): the defaults are right for the shipped host.json.
    SPRESPONDER_MAX_INVOCATION_BYTES  = var.max_invocation_bytes == null ? "" : tostring(var.max_invocation_bytes)
    SPRESPONDER_MAX_BYTES_IN_FLIGHT   = var.max_bytes_in_flight == null ? "" : tostring(var.max_bytes_in_flight)
    SPRESPONDER_TEAMS_BEARER_TOKEN    = local.keyvault_reference.teams_bearer_token
    SPRESPONDER_TEAMS_TOKEN_AUDIENCE  = var.teams_token_audience
    SPRESPONDER_ARM_URL               = "https://management.azure.com"
    SPRESPONDER_STARTUP_CHECK_TIMEOUT = var.startup_check_timeout
    # Reconcile with Graph and the per-category heartbeat, on the Sweep timer.
    SPRESPONDER_RECONCILE          = tostring(var.reconcile)
    SPRESPONDER_RECONCILE_OVERLAP  = var.reconcile_overlap
    SPRESPONDER_RECONCILE_LOOKBACK = var.reconcile_lookback
    SPRESPONDER_RECONCILE_PACE     = var.reconcile_pace
    SPRESPONDER_HEARTBEAT_SIGNINS  = var.heartbeat_signins
    SPRESPONDER_HEARTBEAT_RISK     = var.heartbeat_risk
    SPRESPONDER_HEARTBEAT_AUDIT    = var.heartbeat_audit
    # This instance's share of the tenant's identity protection and
    # Conditional Access limit (about 1 request/s per tenant, all apps).
    SPRESPONDER_RISK_API_RATE    = tostring(var.risk_api_rate)
    SPRESPONDER_RISK_API_BURST   = tostring(var.risk_api_burst)
    SPRESPONDER_CA_CACHE_MAX_AGE = var.ca_cache_max_age
    # Action links from the card and the mail (act.tf): the signing keys are
    # Key Vault references; the page needs the app's Entra ID sign-in
    # (auth_settings_v2 in function.tf) to take a decision.
    SPRESPONDER_ACT_URL          = var.act_url
    SPRESPONDER_ACT_KEY          = local.keyvault_reference.act_key
    SPRESPONDER_ACT_KEY_PREVIOUS = local.keyvault_reference.act_key_previous
    SPRESPONDER_ACT_TTL          = var.act_ttl
    SPRESPONDER_ACT_GROUP        = var.act_group
    # The use of a leaked credential (infra/usage.tf): the hub's retained
    # events through a consumer group of its own, and a Log Analytics
    # workspace that receives the sign-in logs, when one is named.
    SPRESPONDER_USAGE_CONSUMER_GROUP   = azurerm_eventhub_consumer_group.usage.name
    SPRESPONDER_USAGE_WORKSPACE        = var.usage_workspace_id
    SPRESPONDER_USAGE_LOGANALYTICS_URL = "https://api.loganalytics.io/v1"
    SPRESPONDER_USAGE_DEADLINE         = var.usage_deadline
    SPRESPONDER_USAGE_MAX_BYTES        = tostring(var.usage_max_bytes)
    SPRESPONDER_USAGE_WATCH            = var.usage_watch
  }
}
