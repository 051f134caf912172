# Inputs. Every one is typed and validated here, so a mistake fails at plan
# time with a message that names it, not minutes into an apply (or, worse,
# as a responder that starts and then refuses its configuration).
# Settings that end up as SPRESPONDER_* app settings carry the same rules as
# internal/config, which checks them again at start-up.

# --- naming and placement ---------------------------------------------------

variable "name" {
  description = "Short name for this deployment (3-12 lowercase letters and digits, starting with a letter). It prefixes every resource name; globally unique names also get a suffix derived from the subscription."
  type        = string

  validation {
    # 12 keeps the longest derived name (a storage account: st + name +
    # ldgr + 6-character suffix) within Azure's 24-character limit.
    condition     = can(regex("^[a-z][a-z0-9]{2,11}$", var.name))
    error_message = "name must be 3-12 lowercase letters and digits, starting with a letter (it becomes part of storage account names)."
  }
}

variable "location" {
  description = "Azure region, e.g. swedencentral. It must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations) with the custom runtime (az functionapp list-flexconsumption-runtimes --location <region>)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]+$", var.location))
    error_message = "location must be a region name in lowercase without spaces, e.g. swedencentral."
  }
}

variable "resource_group_name" {
  description = "Name of the resource group to create. Default: rg-<name>."
  type        = string
  default     = null

  validation {
    condition     = var.resource_group_name == null || can(regex("^[-\\w\\.\\(\\)]{1,89}[-\\w\\(\\)]$", var.resource_group_name))
    error_message = "resource_group_name must be 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'."
  }
}

variable "tags" {
  description = "Tags for every resource that takes them."
  type        = map(string)
  default     = {}
}

# --- the responder's behaviour (SPRESPONDER_* app settings) ------------------

variable "mode" {
  description = "SPRESPONDER_MODE: dry-run plans and records every write without making it; enforce makes the writes. Deploy in dry-run, watch the workbook, then switch."
  type        = string
  default     = "dry-run"

  validation {
    condition     = contains(["dry-run", "enforce"], var.mode)
    error_message = "mode must be dry-run or enforce."
  }
}

variable "kill_switch" {
  description = "SPRESPONDER_KILL_SWITCH: true stops every write to the tenant at once (notifications still go out)."
  type        = bool
  default     = false
}

variable "tenant_ids" {
  description = "SPRESPONDER_TENANTS: tenant ids whose records are acted on. Empty (the default): the tenant you deploy into, which is the tenant the diagnostic setting streams."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for t in var.tenant_ids : can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", t))])
    error_message = "tenant_ids must be tenant ids: lowercase GUIDs."
  }
}

variable "max_event_bytes" {
  description = "SPRESPONDER_MAX_EVENT_BYTES: largest event body processed; larger events are quarantined whole."
  type        = number
  default     = 2097152

  validation {
    condition     = var.max_event_bytes == floor(var.max_event_bytes) && var.max_event_bytes >= 1024 && var.max_event_bytes <= 1073741824
    error_message = "max_event_bytes must be a whole number from 1024 to 1073741824."
  }
}

variable "failed_secret_threshold" {
  description = "SPRESPONDER_FAILED_SECRET_THRESHOLD: failed client-secret sign-ins of one key within a batch that make a failedSecretSignIns signal."
  type        = number
  default     = 3

  validation {
    condition     = var.failed_secret_threshold == floor(var.failed_secret_threshold) && var.failed_secret_threshold >= 1 && var.failed_secret_threshold <= 1000000
    error_message = "failed_secret_threshold must be a whole number from 1 to 1000000."
  }
}

variable "failed_secret_codes" {
  description = "SPRESPONDER_FAILED_SECRET_CODES: sign-in error codes that mean an invalid or expired client secret."
  type        = list(number)
  default     = [7000215, 7000222]

  validation {
    condition     = alltrue([for c in var.failed_secret_codes : c == floor(c) && c > 0])
    error_message = "failed_secret_codes must be positive whole numbers (AADSTS error codes)."
  }
}

variable "rules_file" {
  description = "SPRESPONDER_RULES: path of a rules file inside the deployed package (e.g. /home/site/wwwroot/rules.yaml). Empty: the built-in rules (`spresponder rules` prints them)."
  type        = string
  default     = ""

  validation {
    condition     = var.rules_file == "" || startswith(var.rules_file, "/")
    error_message = "rules_file must be empty or an absolute path on the Function App's file system."
  }
}

variable "breaker_limit" {
  description = "SPRESPONDER_BREAKER_LIMIT: writes to the tenant allowed per window, tenant-wide; past it incidents are notify-only and on-call is paged. 0 allows none."
  type        = number
  default     = 5

  validation {
    condition     = var.breaker_limit == floor(var.breaker_limit) && var.breaker_limit >= 0
    error_message = "breaker_limit must be a whole number, 0 or more."
  }
}

variable "breaker_window" {
  description = "SPRESPONDER_BREAKER_WINDOW: the breaker's window, a Go duration such as 1h or 30m."
  type        = string
  default     = "1h"

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$", var.breaker_window)) && can(regex("[1-9]", var.breaker_window))
    error_message = "breaker_window must be a positive Go duration such as 1h, 30m or 1h30m."
  }
}

variable "stage_deadline" {
  description = "SPRESPONDER_STAGE_DEADLINE: how long one run of an incident's stages may take before it is parked for the Sweep timer (a Go duration)."
  type        = string
  default     = "60s"

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$", var.stage_deadline)) && can(regex("[1-9]", var.stage_deadline))
    error_message = "stage_deadline must be a positive Go duration such as 60s or 2m."
  }
}

variable "shutdown_timeout" {
  description = "SPRESPONDER_SHUTDOWN_TIMEOUT: how long SIGTERM waits for invocations in flight (a Go duration)."
  type        = string
  default     = "30s"

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$", var.shutdown_timeout)) && can(regex("[1-9]", var.shutdown_timeout))
    error_message = "shutdown_timeout must be a positive Go duration such as 30s."
  }
}

variable "log_level" {
  description = "SPRESPONDER_LOG_LEVEL: debug, info, warn or error. The workbook and alerts need info (the incident summary and batch lines are info)."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be debug, info, warn or error."
  }
}

variable "graph_url" {
  description = "SPRESPONDER_GRAPH_URL: Microsoft Graph base URL; change it only for a national cloud."
  type        = string
  default     = "https://graph.microsoft.com/v1.0"

  validation {
    condition     = can(regex("^https://[^/]+/v1\\.0$", var.graph_url))
    error_message = "graph_url must be an https Graph endpoint ending in /v1.0."
  }
}

variable "mail_from" {
  description = "SPRESPONDER_MAIL_FROM: mailbox (UPN or object id) the owner emails are sent from. Empty: no email."
  type        = string
  default     = ""
}

variable "security_contacts" {
  description = "SPRESPONDER_SECURITY_CONTACT: security addresses copied on every incident and the only recipients for apps without a reachable owner. Required when email or Teams is on."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.security_contacts : can(regex("^[^@,;\\s]+@[^@,;\\s]+\\.[^@,;\\s]+$", a))])
    error_message = "security_contacts must be email addresses (no commas or spaces)."
  }
}

# --- notification webhooks: secrets ------------------------------------------
# They go into Key Vault with write-only arguments (never into the state) and
# reach the app as Key Vault references. Change one, then raise
# webhook_secrets_version so a new secret version is written.

variable "teams_webhook_url" {
  description = "SPRESPONDER_TEAMS_WEBHOOK: Teams Workflows webhook URL for incident cards. Null: no Teams channel."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.teams_webhook_url == null || can(regex("^https://[^\\s]+$", var.teams_webhook_url))
    error_message = "teams_webhook_url must be an https URL (value not shown: it is a secret)."
  }
}

variable "teams_app_webhooks" {
  description = "SPRESPONDER_TEAMS_APP_WEBHOOKS: per-app Teams webhooks, appId => URL; the card also goes to the owning team's channel."
  type        = map(string)
  default     = {}
  sensitive   = true

  validation {
    condition = alltrue([
      for app, url in var.teams_app_webhooks :
      can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", app)) && can(regex("^https://[^\\s;]+$", url))
    ])
    error_message = "teams_app_webhooks must map lowercase appId GUIDs to https URLs without ';' (values not shown: they are secrets)."
  }
}

variable "pager_webhook_url" {
  description = "SPRESPONDER_PAGER_WEBHOOK: on-call webhook (JSON) for incidents that need a human. Null: no page."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.pager_webhook_url == null || can(regex("^https://[^\\s]+$", var.pager_webhook_url))
    error_message = "pager_webhook_url must be an https URL (value not shown: it is a secret)."
  }
}

variable "security_phone_webhook_url" {
  description = "SPRESPONDER_SECURITY_PHONE_WEBHOOK: webhook (JSON) that phones the security contact, for the tiers whose rules-file reach section says phone: true. Null: none (such a rules file is then refused)."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.security_phone_webhook_url == null || can(regex("^https://[^\\s]+$", var.security_phone_webhook_url))
    error_message = "security_phone_webhook_url must be an https URL (value not shown: it is a secret)."
  }
}

variable "webhook_secrets_version" {
  description = "Raise by one to write changed webhook URLs into Key Vault (write-only values cannot be compared with what is stored)."
  type        = number
  default     = 1

  validation {
    condition     = var.webhook_secrets_version == floor(var.webhook_secrets_version) && var.webhook_secrets_version >= 1
    error_message = "webhook_secrets_version must be a whole number, 1 or more."
  }
}

# --- Event Hubs ---------------------------------------------------------------

variable "eventhub_sku" {
  description = "Event Hubs namespace tier. Basic is refused: it allows only the $Default consumer group, and the responder and on-call replay each need their own."
  type        = string
  default     = "Standard"

  validation {
    condition     = contains(["Standard", "Premium"], var.eventhub_sku)
    error_message = "eventhub_sku must be Standard or Premium."
  }
}

variable "eventhub_capacity" {
  description = "Throughput units (Standard, 1-40) or processing units (Premium: 1, 2, 4, 8 or 16)."
  type        = number
  default     = 1

  validation {
    condition     = var.eventhub_capacity == floor(var.eventhub_capacity) && var.eventhub_capacity >= 1 && var.eventhub_capacity <= 40
    error_message = "eventhub_capacity must be a whole number from 1 to 40."
  }
}

variable "eventhub_partition_count" {
  description = "Partitions of the Entra hub. They cap how many instances the trigger scales to; it cannot be lowered later (on Standard not changed at all)."
  type        = number
  default     = 4

  validation {
    condition     = var.eventhub_partition_count == floor(var.eventhub_partition_count) && var.eventhub_partition_count >= 1 && var.eventhub_partition_count <= 32
    error_message = "eventhub_partition_count must be a whole number from 1 to 32."
  }
}

variable "eventhub_retention_days" {
  description = "Days the hub keeps events: how far back `spresponder replay --hub` can reach (Standard: at most 7)."
  type        = number
  default     = 7

  validation {
    condition     = var.eventhub_retention_days == floor(var.eventhub_retention_days) && var.eventhub_retention_days >= 1 && var.eventhub_retention_days <= 7
    error_message = "eventhub_retention_days must be a whole number from 1 to 7."
  }
}

variable "entra_diagnostic_setting" {
  description = "Create the tenant-wide Entra diagnostic setting that streams the service-principal logs to the hub. Needs Security Administrator (or Contributor on /providers/microsoft.aadiam); set false if someone else creates it (README: the categories and the rule to use)."
  type        = bool
  default     = true
}

# --- Function App -------------------------------------------------------------

variable "function_maximum_instance_count" {
  description = "Flex Consumption: most instances the app scales out to (the platform's lowest allowed maximum is 40)."
  type        = number
  default     = 40

  validation {
    condition     = var.function_maximum_instance_count == floor(var.function_maximum_instance_count) && var.function_maximum_instance_count >= 40 && var.function_maximum_instance_count <= 1000
    error_message = "function_maximum_instance_count must be a whole number from 40 to 1000."
  }
}

variable "function_instance_memory_mb" {
  description = "Flex Consumption instance size in MB: 512, 2048 or 4096."
  type        = number
  default     = 2048

  validation {
    condition     = contains([512, 2048, 4096], var.function_instance_memory_mb)
    error_message = "function_instance_memory_mb must be 512, 2048 or 4096 (the sizes Flex Consumption offers)."
  }
}

variable "always_ready_instances" {
  description = "Always-ready instances for the EntraLogs function: 1 keeps containment free of a cold start (billed while idle); 0 scales to zero."
  type        = number
  default     = 1

  validation {
    condition     = var.always_ready_instances == floor(var.always_ready_instances) && var.always_ready_instances >= 0 && var.always_ready_instances <= 10
    error_message = "always_ready_instances must be a whole number from 0 to 10."
  }
}

# --- people -------------------------------------------------------------------

variable "deployer_principal_ids" {
  description = "Object ids of the people or pipelines that upload dist/spresponder.zip: they get Storage Blob Data Contributor on the deployment container only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.deployer_principal_ids : can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", p))])
    error_message = "deployer_principal_ids must be object ids: lowercase GUIDs."
  }
}

variable "oncall_principal_ids" {
  description = "Object ids of on-call engineers (or a group): Azure Event Hubs Data Receiver on the Entra hub, for `spresponder replay --hub --consumer-group oncall`."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.oncall_principal_ids : can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", p))])
    error_message = "oncall_principal_ids must be object ids: lowercase GUIDs."
  }
}

# --- observability ------------------------------------------------------------

variable "log_retention_days" {
  description = "Days the Log Analytics workspace (and so Application Insights) keeps logs: the incident summaries the workbook reads."
  type        = number
  default     = 90

  validation {
    condition     = var.log_retention_days == floor(var.log_retention_days) && var.log_retention_days >= 30 && var.log_retention_days <= 730
    error_message = "log_retention_days must be a whole number from 30 to 730."
  }
}

variable "alert_emails" {
  description = "Addresses the alert rules notify (through one action group). Empty: the alerts fire in the portal only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.alert_emails : can(regex("^[^@,;\\s]+@[^@,;\\s]+\\.[^@,;\\s]+$", a))])
    error_message = "alert_emails must be email addresses."
  }
}

variable "alert_no_event_window" {
  description = "The 'no Entra event' alert fires when no record arrived for this long (ISO 8601). A tenant whose service principals rarely sign in needs a long window."
  type        = string
  default     = "PT1H"

  validation {
    # The window sizes Azure Monitor log alerts accept (with a 5-minute or
    # longer evaluation frequency).
    condition     = contains(["PT5M", "PT10M", "PT15M", "PT30M", "PT45M", "PT1H", "PT2H", "PT3H", "PT4H", "PT5H", "PT6H", "P1D", "P2D"], var.alert_no_event_window)
    error_message = "alert_no_event_window must be one of PT5M, PT10M, PT15M, PT30M, PT45M, PT1H, PT2H, PT3H, PT4H, PT5H, PT6H, P1D, P2D."
  }
}

variable "alert_parked_threshold" {
  description = "The 'parked incidents' alert fires when more incidents than this are parked (latest state in the last day)."
  type        = number
  default     = 3

  validation {
    condition     = var.alert_parked_threshold == floor(var.alert_parked_threshold) && var.alert_parked_threshold >= 0
    error_message = "alert_parked_threshold must be a whole number, 0 or more."
  }
}

variable "alert_handler_error_threshold" {
  description = "The 'handler errors' alert fires when more failed invocations and error log lines than this occur in 15 minutes."
  type        = number
  default     = 0

  validation {
    condition     = var.alert_handler_error_threshold == floor(var.alert_handler_error_threshold) && var.alert_handler_error_threshold >= 0
    error_message = "alert_handler_error_threshold must be a whole number, 0 or more."
  }
}

# --- the ledger ---------------------------------------------------------------

variable "ledger_replication_type" {
  description = "Replication of the ledger's storage account (the audit trail). ZRS or GZRS where the region has zones."
  type        = string
  default     = "LRS"

  validation {
    condition     = contains(["LRS", "ZRS", "GRS", "RAGRS", "GZRS", "RAGZRS"], var.ledger_replication_type)
    error_message = "ledger_replication_type must be LRS, ZRS, GRS, RAGRS, GZRS or RAGZRS."
  }
}

variable "ledger_version_retention_days" {
  description = "Days previous versions of ledger blobs are kept (the audit trail of overwrites)."
  type        = number
  default     = 90

  validation {
    condition     = var.ledger_version_retention_days == floor(var.ledger_version_retention_days) && var.ledger_version_retention_days >= 1 && var.ledger_version_retention_days <= 3650
    error_message = "ledger_version_retention_days must be a whole number from 1 to 3650."
  }
}

variable "replay_execute" {
  description = "SPRESPONDER_REPLAY_EXECUTE: let the Replay HTTP function execute replays while SPRESPONDER_MODE is dry-run. Off: an HTTP replay executes only when the service enforces."
  type        = bool
  default     = false
}

variable "notify_deadline" {
  description = "SPRESPONDER_NOTIFY_DEADLINE: how long a run waits for Teams, email and the pager before moving on; the Sweep timer sends the rest (a Go duration up to 2m)."
  type        = string
  default     = "5s"
  validation {
    condition     = can(regex("^[0-9]+(ms|s|m)$", var.notify_deadline))
    error_message = "notify_deadline must be a Go duration such as 5s."
  }
}

variable "max_invocation_bytes" {
  description = "SPRESPONDER_MAX_INVOCATION_BYTES: largest invocation body accepted. Null: derived from host.json (batch size x 1 MB x 2 + 1 MB)."
  type        = number
  default     = null
  validation {
    condition     = var.max_invocation_bytes == null || try(var.max_invocation_bytes >= 1048576, false)
    error_message = "max_invocation_bytes must be at least 1 MiB (1048576)."
  }
}

variable "max_bytes_in_flight" {
  description = "SPRESPONDER_MAX_BYTES_IN_FLIGHT: memory budget of the invocations processed at once. Null: half the instance memory."
  type        = number
  default     = null
  validation {
    condition     = var.max_bytes_in_flight == null || try(var.max_bytes_in_flight >= 16777216, false)
    error_message = "max_bytes_in_flight must be at least 16 MiB (16777216)."
  }
}

variable "teams_bearer_token" {
  description = "SPRESPONDER_TEAMS_BEARER_TOKEN: a bearer token for a Workflows flow that requires sign-in, kept in Key Vault. Prefer teams_token_audience. Null: none."
  type        = string
  default     = null
  sensitive   = true
}

variable "teams_token_audience" {
  description = "SPRESPONDER_TEAMS_TOKEN_AUDIENCE: the audience of a managed-identity token sent with each Teams post, for flows that require sign-in. Empty: none."
  type        = string
  default     = ""
}

variable "startup_check_timeout" {
  description = "SPRESPONDER_STARTUP_CHECK_TIMEOUT: bound of the preflight check serve runs in the background at start-up (0s: off)."
  type        = string
  default     = "5s"
  validation {
    condition     = can(regex("^[0-9]+(ms|s)$", var.startup_check_timeout))
    error_message = "startup_check_timeout must be a Go duration such as 5s."
  }
}

variable "reconcile" {
  description = "SPRESPONDER_RECONCILE: on each Sweep, ask Graph for risk detections and risky service principals changed since the watermark, so a leak the stream never delivered is still handled."
  type        = bool
  default     = true
}

variable "reconcile_overlap" {
  description = "SPRESPONDER_RECONCILE_OVERLAP: how far before the watermark each reconcile round starts (Entra updates records late)."
  type        = string
  default     = "5m"
  validation {
    condition     = can(regex("^[0-9]+(ms|s|m|h|d)$", var.reconcile_overlap))
    error_message = "reconcile_overlap must be a Go duration such as 5m."
  }
}

variable "reconcile_lookback" {
  description = "SPRESPONDER_RECONCILE_LOOKBACK: how far back the first reconcile round looks."
  type        = string
  default     = "24h"
  validation {
    condition     = can(regex("^[0-9]+(ms|s|m|h|d)$", var.reconcile_lookback))
    error_message = "reconcile_lookback must be a Go duration such as 24h."
  }
}

variable "reconcile_pace" {
  description = "SPRESPONDER_RECONCILE_PACE: wait between the Graph pages of a round (identity protection APIs allow about one request a second per tenant)."
  type        = string
  default     = "1s"
  validation {
    condition     = can(regex("^[0-9]+(ms|s|m|h|d)$", var.reconcile_pace))
    error_message = "reconcile_pace must be a Go duration such as 1s."
  }
}

variable "risk_api_rate" {
  description = "SPRESPONDER_RISK_API_RATE: requests per second each instance may send to the identity protection and Conditional Access APIs (the tenant allows about 1, shared by every app): give each instance 1 divided by how many may run at once."
  type        = number
  default     = 1
  validation {
    condition     = var.risk_api_rate >= 0.01 && var.risk_api_rate <= 20
    error_message = "risk_api_rate must be from 0.01 to 20 requests per second."
  }
}

variable "risk_api_burst" {
  description = "SPRESPONDER_RISK_API_BURST: how many of those requests may go back to back after a quiet spell."
  type        = number
  default     = 2
  validation {
    condition     = var.risk_api_burst == floor(var.risk_api_burst) && var.risk_api_burst >= 1 && var.risk_api_burst <= 20
    error_message = "risk_api_burst must be a whole number from 1 to 20."
  }
}

variable "ca_cache_max_age" {
  description = "SPRESPONDER_CA_CACHE_MAX_AGE: oldest copy of the Conditional Access policies and named locations a verdict is computed from (the Sweep refreshes them every run)."
  type        = string
  default     = "10m"
  validation {
    condition     = can(regex("^[0-9]+(s|m|h)$", var.ca_cache_max_age))
    error_message = "ca_cache_max_age must be a Go duration such as 10m."
  }
}

variable "heartbeat_signins" {
  description = "SPRESPONDER_HEARTBEAT_SIGNINS: page on-call when no ServicePrincipalSignInLogs record arrived for this long (0s: off)."
  type        = string
  default     = "30m"
  validation {
    condition     = can(regex("^[0-9]+(ms|s|m|h|d)$", var.heartbeat_signins))
    error_message = "heartbeat_signins must be a Go duration such as 30m."
  }
}

variable "heartbeat_risk" {
  description = "SPRESPONDER_HEARTBEAT_RISK: the same for the risk categories, which are not continuous (0s: off; 7d is 168h)."
  type        = string
  default     = "0s"
  validation {
    condition     = can(regex("^[0-9]+(ms|s|m|h|d)$", var.heartbeat_risk))
    error_message = "heartbeat_risk must be a Go duration such as 0s."
  }
}

variable "heartbeat_audit" {
  description = "SPRESPONDER_HEARTBEAT_AUDIT: the same for AuditLogs (0s: off)."
  type        = string
  default     = "0s"
  validation {
    condition     = can(regex("^[0-9]+(ms|s|m|h|d)$", var.heartbeat_audit))
    error_message = "heartbeat_audit must be a Go duration such as 0s."
  }
}

# --- action links (act.tf) ------------------------------------------------------

variable "act_url" {
  description = "SPRESPONDER_ACT_URL: the Function App's public base URL (https://<app>.azurewebsites.net) the action links point at. Empty: no action links."
  type        = string
  default     = ""
  validation {
    condition     = var.act_url == "" || can(regex("^https://[^/?#\\s]+$", var.act_url))
    error_message = "act_url must be an https base URL without a path, or empty."
  }
}

variable "act_signing_key" {
  description = "SPRESPONDER_ACT_KEY: the action links' signing key, base64 of at least 32 bytes (openssl rand -base64 32), kept in Key Vault. Required with act_url. Raise webhook_secrets_version to write a new one."
  type        = string
  default     = null
  sensitive   = true
  validation {
    condition     = var.act_signing_key == null || can(regex("^[A-Za-z0-9+/]{43,}=*$", var.act_signing_key))
    error_message = "act_signing_key must be base64 of at least 32 bytes (value not shown: it is a secret)."
  }
}

variable "act_signing_key_previous" {
  description = "SPRESPONDER_ACT_KEY_PREVIOUS: the signing key before a rotation; links it signed work until they expire. Null: none."
  type        = string
  default     = null
  sensitive   = true
}

variable "act_ttl" {
  description = "SPRESPONDER_ACT_TTL: how long an action link works (5m to 7d)."
  type        = string
  default     = "24h"
  validation {
    condition     = can(regex("^[0-9]+(m|h|d)$", var.act_ttl))
    error_message = "act_ttl must be a duration such as 24h or 7d."
  }
}

variable "act_group" {
  description = "SPRESPONDER_ACT_GROUP: object id of the security group whose members may decide from an action link for any app. Empty: the app's owners only."
  type        = string
  default     = ""
  validation {
    condition     = var.act_group == "" || can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.act_group))
    error_message = "act_group must be a lowercase group object id (GUID), or empty."
  }
}

variable "act_auth_client_id" {
  description = "Client id of the Entra app registration the Function App's sign-in (App Service Authentication) uses for the act page; its redirect URI is <act_url>/.auth/login/aad/callback, ID tokens enabled. Null: sign-in off, and the act page only acknowledges."
  type        = string
  default     = null
  validation {
    condition     = var.act_auth_client_id == null || can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.act_auth_client_id))
    error_message = "act_auth_client_id must be a lowercase client id (GUID), or null."
  }
}

variable "usage_workspace_id" {
  description = "SPRESPONDER_USAGE_WORKSPACE: workspace id (GUID) of a Log Analytics workspace that receives the tenant's ServicePrincipalSignInLogs, read for the use of a leaked credential. Empty: not read (the hub's retained events still are)."
  type        = string
  default     = ""
  validation {
    condition     = var.usage_workspace_id == "" || can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.usage_workspace_id))
    error_message = "usage_workspace_id must be empty or a workspace id: a lowercase GUID."
  }
}

variable "usage_workspace_resource_id" {
  description = "ARM resource id of the same workspace: the responder's identity is given Log Analytics Reader on it. Empty: no role assignment (give it by hand, or the use says \"permission Log Analytics Reader missing\")."
  type        = string
  default     = ""
  validation {
    condition     = var.usage_workspace_resource_id == "" || can(regex("(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft.OperationalInsights/workspaces/[^/]+$", var.usage_workspace_resource_id))
    error_message = "usage_workspace_resource_id must be empty or a Log Analytics workspace resource id."
  }
}

variable "usage_deadline" {
  description = "SPRESPONDER_USAGE_DEADLINE: how long reading the use of a credential may take after containment, before the notice."
  type        = string
  default     = "10s"
  validation {
    condition     = can(regex("^[0-9]+(ms|s|m)$", var.usage_deadline))
    error_message = "usage_deadline must be a Go duration such as 10s."
  }
}

variable "usage_max_bytes" {
  description = "SPRESPONDER_USAGE_MAX_BYTES: most bytes of retained events one read of the hub for the use of a credential takes."
  type        = number
  default     = 268435456
  validation {
    condition     = var.usage_max_bytes >= 1048576 && var.usage_max_bytes <= 4294967296
    error_message = "usage_max_bytes must be between 1 MiB and 4 GiB."
  }
}

variable "usage_watch" {
  description = "SPRESPONDER_USAGE_WATCH: for how long after an incident opens the stream's sign-ins with its keys are attached to it (a success after the removal pages). 0s: off."
  type        = string
  default     = "7d"
  validation {
    condition     = can(regex("^[0-9]+(ms|s|m|h|d)$", var.usage_watch))
    error_message = "usage_watch must be a Go duration such as 7d."
  }
}
