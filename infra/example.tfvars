# An example deployment: copy to <your>.tfvars, fill in, then
#   tofu init && tofu apply -var-file=<your>.tfvars
# (ARM_SUBSCRIPTION_ID names the subscription). Webhook URLs are secrets:
# pass them with TF_VAR_teams_webhook_url / TF_VAR_pager_webhook_url rather
# than writing them into a file.

name     = "sprcontoso"
location = "swedencentral"

# Start in dry-run: every write is planned and recorded, none is made.
# Watch the workbook for a while, then switch to "enforce".
mode        = "dry-run"
kill_switch = false

# Who hears about incidents. The security contact is required as soon as
# email or Teams is on.
mail_from         = "spresponder@contoso.example"
security_contacts = ["security@contoso.example"]

# Blast-radius breaker: at most 5 writes to the tenant per hour.
breaker_limit  = 5
breaker_window = "1h"

eventhub_partition_count = 4
always_ready_instances   = 1

# Object ids (GUIDs) of who may upload the package and who is on call.
deployer_principal_ids = ["00000000-0000-0000-0000-000000000001"]
oncall_principal_ids   = ["00000000-0000-0000-0000-000000000002"]

alert_emails          = ["oncall@contoso.example"]
alert_no_event_window = "PT1H"

tags = {
  owner = "security-engineering"
}
