# What on-call looks at. The handler writes JSON log lines to stdout; the
# Functions host forwards them to Application Insights as traces. Two of
# them are a contract (infra/README.md, "Log lines the workbook reads"):
# "incident summary" (one per incident run) and "batch" (one per EntraLogs
# invocation). The workbook and the alert rules query those, with the KQL
# kept in infra/queries/*.kql so that people can run the same queries by hand
# (and scripts/infra-check.sh checks them with the Kusto language service).

locals {
  kql = { for f in fileset("${path.module}/queries", "*.kql") : trimsuffix(f, ".kql") => file("${path.module}/queries/${f}") }
}

resource "azurerm_log_analytics_workspace" "main" {
  name                = local.names.log_analytics
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  # Entra ID only for queries and ingestion, like everything else here.
  local_authentication_enabled = false
  tags                         = local.tags
}

resource "azurerm_application_insights" "main" {
  name                = local.names.app_insights
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  workspace_id        = azurerm_log_analytics_workspace.main.id
  application_type    = "other"
  retention_in_days   = var.log_retention_days
  # Telemetry must be signed by the responder's identity
  # (APPLICATIONINSIGHTS_AUTHENTICATION_STRING): the instrumentation key in
  # the connection string alone is not enough to write into it.
  local_authentication_enabled = false
  # Sampling would drop incident summaries and batch lines at random, and
  # the workbook counts them; host.json turns the host's own sampling off for
  # traces for the same reason.
  sampling_percentage = 100
  tags                = local.tags
}

# --- alerts -------------------------------------------------------------------

resource "azurerm_monitor_action_group" "oncall" {
  count = length(var.alert_emails) > 0 ? 1 : 0

  name                = "ag-${var.name}-oncall"
  resource_group_name = azurerm_resource_group.main.name
  short_name          = "spresponder"

  dynamic "email_receiver" {
    for_each = var.alert_emails
    content {
      name                    = "email-${email_receiver.key}"
      email_address           = email_receiver.value
      use_common_alert_schema = true
    }
  }

  tags = local.tags
}

locals {
  # Each alert is a query that returns one row per finding; the rule compares
  # the number of rows with a threshold over the window.
  alerts = {
    breaker-tripped = {
      description = "The blast-radius breaker held writes: more containment than SPRESPONDER_BREAKER_LIMIT allows per window was asked for. Incidents are notify-only until the window passes; look at the held incidents in the workbook before raising the limit."
      severity    = 1
      query       = local.kql["alert_breaker_tripped"]
      frequency   = "PT5M"
      window      = "PT15M"
      operator    = "GreaterThan"
      threshold   = 0
    }
    no-entra-events = {
      description = "No Entra record reached the responder for the whole window: the diagnostic setting, the hub, the trigger or its identity's role has stopped working, and leaked credentials would go unanswered."
      severity    = 1
      query       = local.kql["alert_no_entra_events"]
      # Evaluated at least as often as the window is long, at most every 15 min.
      frequency = contains(["PT5M", "PT10M"], var.alert_no_event_window) ? var.alert_no_event_window : "PT15M"
      window    = var.alert_no_event_window
      operator  = "LessThan"
      threshold = 1
    }
    parked-incidents = {
      description = "More incidents than the threshold are parked (latest run in the last day): re-drives keep failing. Check Graph permissions, the ledger and `spresponder incidents list --state parked`."
      severity    = 2
      query       = local.kql["alert_parked_incidents"]
      frequency   = "PT15M"
      window      = "P1D"
      operator    = "GreaterThan"
      threshold   = var.alert_parked_threshold
    }
    handler-errors = {
      description = "Failed invocations or error log lines from the handler. A failing EntraLogs invocation is retried by the host, then checkpointed: events it could not record are lost to the stream (replay them from the hub)."
      severity    = 2
      query       = local.kql["alert_handler_errors"]
      frequency   = "PT5M"
      window      = "PT15M"
      operator    = "GreaterThan"
      threshold   = var.alert_handler_error_threshold
    }
  }
}

resource "azurerm_monitor_scheduled_query_rules_alert_v2" "main" {
  for_each = local.alerts

  name                 = "${var.name}-${each.key}"
  display_name         = "spresponder ${var.name}: ${each.key}"
  description          = each.value.description
  resource_group_name  = azurerm_resource_group.main.name
  location             = azurerm_resource_group.main.location
  scopes               = [azurerm_application_insights.main.id]
  severity             = each.value.severity
  evaluation_frequency = each.value.frequency
  window_duration      = each.value.window
  # Resolve by itself once the condition clears, so a fixed problem does not
  # keep paging.
  auto_mitigation_enabled = true

  criteria {
    query                   = each.value.query
    time_aggregation_method = "Count"
    operator                = each.value.operator
    threshold               = each.value.threshold

    failing_periods {
      minimum_failing_periods_to_trigger_alert = 1
      number_of_evaluation_periods             = 1
    }
  }

  dynamic "action" {
    for_each = azurerm_monitor_action_group.oncall
    content {
      action_groups = [action.value.id]
    }
  }

  tags = local.tags
}

# --- workbook -----------------------------------------------------------------

locals {
  # A query step of the workbook, over the App Insights component, following
  # the workbook's time range parameter.
  workbook_query = {
    for k, v in {
      time_to_contain      = { title = "Time to contain (verify + contain, ms): p50, p95, max per hour", viz = "timechart", width = "50" }
      incidents_by_outcome = { title = "Incidents by outcome (latest run of each)", viz = "barchart", width = "50" }
      breaker_trips        = { title = "Breaker trips (incident runs held by the breaker, per 15 min)", viz = "timechart", width = "50" }
      events_per_minute    = { title = "Entra records per minute, by category", viz = "timechart", width = "50" }
      held_and_parked      = { title = "Held, parked and needs-human incidents (latest state)", viz = "table", width = "100" }
      incident_summaries   = { title = "Incident runs", viz = "table", width = "100" }
      } : k => {
      type = 3
      name = k
      content = {
        version                  = "KqlItem/1.0"
        query                    = local.kql[k]
        size                     = 0
        title                    = v.title
        timeContextFromParameter = "TimeRange"
        timeContext              = { durationMs = 86400000 }
        queryType                = 0
        resourceType             = "microsoft.insights/components"
        visualization            = v.viz
      }
      customWidth = v.width
    }
  }
}

resource "azurerm_application_insights_workbook" "main" {
  # Workbook names are GUIDs; a name-based UUID keeps it stable across
  # applies without the random provider.
  name                = uuidv5("url", "https://spresponder.invalid/workbook/${local.suffix}/${var.name}")
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  display_name        = "spresponder ${var.name}"
  description         = "Incidents, containment times, breaker trips and the Entra event stream of spresponder ${var.name}."
  source_id           = lower(azurerm_application_insights.main.id)
  category            = "workbook"
  tags                = local.tags

  data_json = jsonencode({
    version = "Notebook/1.0"
    items = concat([
      {
        type = 1
        name = "intro"
        content = {
          json = join("\n", [
            "## spresponder ${var.name}",
            "Read from the handler's `incident summary` and `batch` log lines (infra/README.md). Times are measured in the handler: Entra's and the hub's own delay come before them.",
            "Act on a held or parked incident with `spresponder incidents show <incident>` / `redrive` / `resolve`.",
          ])
        }
      },
      {
        type = 9
        name = "parameters"
        content = {
          version = "KqlParameterItem/1.0"
          style   = "pills"
          parameters = [{
            id         = uuidv5("url", "https://spresponder.invalid/workbook/parameter/TimeRange")
            version    = "KqlParameterItem/1.0"
            name       = "TimeRange"
            label      = "Time range"
            type       = 4
            isRequired = true
            value      = { durationMs = 86400000 }
            typeSettings = {
              selectableValues = [for ms in [3600000, 14400000, 43200000, 86400000, 259200000, 604800000, 2592000000] : { durationMs = ms }]
              allowCustom      = true
            }
          }]
          queryType    = 0
          resourceType = "microsoft.insights/components"
        }
      },
      ],
      [for k in ["time_to_contain", "incidents_by_outcome", "breaker_trips", "events_per_minute", "held_and_parked", "incident_summaries"] : local.workbook_query[k]]
    )
    fallbackResourceIds = [azurerm_application_insights.main.id]
    "$schema"           = "https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json"
  })
}
