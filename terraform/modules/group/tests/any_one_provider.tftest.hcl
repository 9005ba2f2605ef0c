# "Any one provider plus nothing else" (adversary {"attributes": {"provider": 1}}) over 7 replicas on four
# providers, 2 + 2 + 2 + 1: Q3 holds (any three providers leave a replica out), and each provider's replicas
# form one maximal corruptible set. group.json records provider and account as replica attributes.

variables {
  group_json = <<-EOT
    {"format": "sintra-edge/group@1", "groupId": "5e1f00000000000000000000000000000000000000000000000000000000beef",
     "testOnly": true,
     "replicas": [
       {"index": 0, "id": "cf-1", "attributes": {"provider": "cloudflare", "account": "cf-alice"}},
       {"index": 1, "id": "cf-2", "attributes": {"provider": "cloudflare", "account": "cf-bob"}},
       {"index": 2, "id": "aws-1", "attributes": {"provider": "aws", "account": "aws-1"}},
       {"index": 3, "id": "aws-2", "attributes": {"provider": "aws", "account": "aws-2"}},
       {"index": 4, "id": "gcp-1", "attributes": {"provider": "gcp", "account": "gcp-1"}},
       {"index": 5, "id": "gcp-2", "attributes": {"provider": "gcp", "account": "gcp-2"}},
       {"index": 6, "id": "vm-1", "attributes": {"provider": "hetzner", "account": "vm-1"}}],
     "adversary": {"attributes": {"provider": 1}, "plus": 0},
     "structure": {"type": "general", "n": 7, "maximalCorruptible": [[0, 1], [2, 3], [4, 5], [6]]}, "keys": {}}
  EOT
  replicas = {
    cf-1  = { platform = "cloudflare", provider = "cloudflare", account = "cf-alice", workers_dev_subdomain = "alice" }
    cf-2  = { platform = "cloudflare", provider = "cloudflare", account = "cf-bob", workers_dev_subdomain = "bob" }
    aws-1 = { platform = "lambda", provider = "aws", account = "aws-1", region = "eu-central-1", url = "https://a1.lambda-url.eu-central-1.on.aws" }
    aws-2 = { platform = "lambda", provider = "aws", account = "aws-2", region = "us-east-1", url = "https://a2.lambda-url.us-east-1.on.aws" }
    gcp-1 = { platform = "lambda", provider = "gcp", account = "gcp-1", region = "eu-west-1", url = "https://g1.example.org" }
    gcp-2 = { platform = "lambda", provider = "gcp", account = "gcp-2", region = "eu-west-1", url = "https://g2.example.org" }
    vm-1  = { platform = "lambda", provider = "hetzner", account = "vm-1", region = "eu-west-1", url = "https://vm1.example.org" }
  }
  tolerate = ["account", "provider"]
  # One operator's run: the two Cloudflare replicas (one provider, a corruptible set).
  deploy = ["cf-1", "cf-2"]
}

run "each_provider_is_tolerated" {
  command = plan

  assert {
    condition     = alltrue(values(output.tolerated.provider)) && alltrue(values(output.tolerated.account))
    error_message = "every provider (and so every account) holds a corruptible set"
  }
  assert {
    condition     = jsonencode(output.domains.provider) == jsonencode({ cloudflare = ["cf-1", "cf-2"], aws = ["aws-1", "aws-2"], gcp = ["gcp-1", "gcp-2"], hetzner = ["vm-1"] })
    error_message = "replicas grouped by provider"
  }
}

run "one_operator_may_deploy_one_providers_replicas" {
  command = plan

  assert {
    condition     = output.deploy_ids == ["cf-1", "cf-2"]
    error_message = "cf-1 and cf-2 form a corruptible set: no warning"
  }
}

run "but_not_two_providers_at_once" {
  command = plan

  variables {
    deploy = ["cf-1", "aws-1"]
  }

  expect_failures = [check.one_operator_per_run]
}

run "placement_must_match_the_dealt_attributes" {
  command = plan

  variables {
    replicas = {
      cf-1  = { platform = "cloudflare", provider = "cloudflare", account = "cf-alice", workers_dev_subdomain = "alice" }
      cf-2  = { platform = "cloudflare", provider = "cloudflare", account = "cf-bob", workers_dev_subdomain = "bob" }
      aws-1 = { platform = "lambda", provider = "aws", account = "aws-1", region = "eu-central-1" }
      aws-2 = { platform = "lambda", provider = "aws", account = "aws-2", region = "us-east-1" }
      gcp-1 = { platform = "lambda", provider = "gcp", account = "gcp-1", region = "eu-west-1" }
      gcp-2 = { platform = "lambda", provider = "gcp", account = "gcp-2", region = "eu-west-1" }
      vm-1  = { platform = "lambda", provider = "gcp", account = "vm-1", region = "eu-west-1" }
    }
  }

  # vm-1 moved to gcp: group.json says hetzner (gcp would then also hold three replicas, more than one
  # maximal set, but the contradiction with group.json is reported first).
  expect_failures = [var.replicas]
}
