# tflint (pinned in scripts/infra-check.sh) with its bundled Terraform
# ruleset only: rulesets that are downloaded (the azurerm one) cannot be
# fetched here. "all" turns on every bundled rule, including the naming,
# documentation and typing rules.
config {
  call_module_type = "none"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
