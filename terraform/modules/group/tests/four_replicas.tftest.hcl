# The docs/deploy.md layout: 4 replicas, threshold t = 1, two Cloudflare accounts and two AWS accounts.
# group_json carries only what the module reads (the keys are irrelevant here).

variables {
  group_json = <<-EOT
    {"format": "sintra-edge/group@1", "groupId": "5e1f00000000000000000000000000000000000000000000000000000000c0de",
     "testOnly": true,
     "replicas": [{"index": 0, "id": "r1", "attributes": {}}, {"index": 1, "id": "r2", "attributes": {}},
                  {"index": 2, "id": "r3", "attributes": {}}, {"index": 3, "id": "r4", "attributes": {}}],
     "adversary": {"threshold": 1}, "structure": {"type": "threshold", "n": 4, "t": 1}, "keys": {}}
  EOT
  replicas = {
    r1 = { platform = "cloudflare", provider = "cloudflare", account = "cf-alice", workers_dev_subdomain = "alice", location_hint = "weur" }
    r2 = { platform = "cloudflare", provider = "cloudflare", account = "cf-bob", custom_domain = { zone_id = "0123456789abcdef0123456789abcdef", hostname = "r2.sintra.example" } }
    r3 = { platform = "lambda", provider = "aws", account = "aws-1", region = "eu-central-1" }
    r4 = { platform = "lambda", provider = "aws", account = "aws-2", region = "us-east-1", url = "https://abc.lambda-url.us-east-1.on.aws" }
  }
  # Deploying all four from one run is what a test deployment does; the check below says why a real one must not.
  deploy = ["r1"]
}

run "names_urls_and_peer_lists" {
  command = plan

  assert {
    condition     = output.replica_ids == ["r1", "r2", "r3", "r4"]
    error_message = "replica ids must come in index order"
  }
  assert {
    condition     = output.names == { r1 = "sintra-r1", r2 = "sintra-r2", r3 = "sintra-r3", r4 = "sintra-r4" }
    error_message = "default names are <prefix>-<id>"
  }
  assert {
    condition     = output.static_urls.r1 == "https://sintra-r1.alice.workers.dev" && output.static_urls.r2 == "https://r2.sintra.example" && output.static_urls.r3 == null
    error_message = "workers.dev and custom-domain URLs are derived; a Lambda URL is not known before it exists"
  }
  assert {
    condition     = jsondecode(output.peers_static.r1) == [null, "https://r2.sintra.example", null, "https://abc.lambda-url.us-east-1.on.aws"]
    error_message = "SINTRA_PEERS of r1: null for itself and for the unknown r3 URL"
  }
  assert {
    condition     = output.missing_urls.r1 == ["r3"] && output.missing_urls.r3 == []
    error_message = "r3's URL is the one missing for every other replica"
  }
  assert {
    condition     = output.tolerated.account == { cf-alice = true, cf-bob = true, aws-1 = true, aws-2 = true }
    error_message = "one account holds one replica: each is tolerated"
  }
  assert {
    condition     = output.tolerated.provider == { cloudflare = false, aws = false }
    error_message = "a provider holding 2 of 4 replicas is more than t = 1"
  }
  assert {
    condition     = output.cloudflare_ids == ["r1"] && output.lambda_ids == [] && output.deploy_ids == ["r1"]
    error_message = "this run deploys r1 only"
  }
  assert {
    condition     = length(output.secret_names) == 5 && contains(output.secret_names, "SINTRA_KEY_SHARES")
    error_message = "the five secrets of the dealer's secrets file"
  }
}

run "dynamic_urls_reach_peers_but_not_peers_static" {
  command = plan

  variables {
    deploy       = ["r3"]
    dynamic_urls = { r3 = "https://xyz.lambda-url.eu-central-1.on.aws" }
  }

  assert {
    condition     = jsondecode(output.peers.r1)[2] == "https://xyz.lambda-url.eu-central-1.on.aws"
    error_message = "a Lambda URL created in this run reaches the Cloudflare replicas' peer lists"
  }
  assert {
    condition     = jsondecode(output.peers_static.r4)[2] == null
    error_message = "peers_static never depends on URLs created in this run (a Lambda's own env cannot wait for another's URL)"
  }
  assert {
    condition     = jsondecode(output.peers.r3) == ["https://sintra-r1.alice.workers.dev", "https://r2.sintra.example", null, "https://abc.lambda-url.us-east-1.on.aws"]
    error_message = "SINTRA_PEERS of r3 itself"
  }
}

run "one_run_deploying_two_replicas_is_flagged" {
  command = plan

  variables {
    deploy = ["r1", "r2"]
  }

  expect_failures = [check.one_operator_per_run]
}

run "claiming_any_one_provider_is_refused_here" {
  command = plan

  variables {
    tolerate = ["account", "provider"]
  }

  expect_failures = [var.tolerate]
}

run "two_replicas_in_one_account_are_refused" {
  command = plan

  variables {
    replicas = {
      r1 = { platform = "cloudflare", provider = "cloudflare", account = "cf-alice", workers_dev_subdomain = "alice" }
      r2 = { platform = "cloudflare", provider = "cloudflare", account = "cf-alice", workers_dev_subdomain = "alice" }
      r3 = { platform = "lambda", provider = "aws", account = "aws-1", region = "eu-central-1" }
      r4 = { platform = "lambda", provider = "aws", account = "aws-2", region = "us-east-1" }
    }
  }

  expect_failures = [var.tolerate]
}

run "unknown_replica_id" {
  command = plan

  variables {
    replicas = {
      r1 = { platform = "cloudflare", provider = "cloudflare", account = "a", workers_dev_subdomain = "a" }
      r2 = { platform = "cloudflare", provider = "cloudflare", account = "b", workers_dev_subdomain = "b" }
      r3 = { platform = "lambda", provider = "aws", account = "c", region = "eu-central-1" }
      r4 = { platform = "lambda", provider = "aws", account = "d", region = "eu-central-1" }
      r5 = { platform = "lambda", provider = "aws", account = "e", region = "eu-central-1" }
    }
  }

  expect_failures = [var.replicas]
}

run "missing_replica" {
  command = plan

  variables {
    replicas = {
      r1 = { platform = "cloudflare", provider = "cloudflare", account = "a", workers_dev_subdomain = "a" }
      r2 = { platform = "cloudflare", provider = "cloudflare", account = "b", workers_dev_subdomain = "b" }
      r3 = { platform = "lambda", provider = "aws", account = "c", region = "eu-central-1" }
    }
    deploy = null
  }

  expect_failures = [var.replicas]
}

run "duplicate_names" {
  command = plan

  variables {
    replicas = {
      r1 = { platform = "cloudflare", provider = "cloudflare", account = "a", workers_dev_subdomain = "a", name = "replica" }
      r2 = { platform = "cloudflare", provider = "cloudflare", account = "b", workers_dev_subdomain = "b", name = "replica" }
      r3 = { platform = "lambda", provider = "aws", account = "c", region = "eu-central-1" }
      r4 = { platform = "lambda", provider = "aws", account = "d", region = "eu-central-1" }
    }
  }

  expect_failures = [var.replicas]
}

run "url_with_a_path" {
  command = plan

  variables {
    replicas = {
      r1 = { platform = "cloudflare", provider = "cloudflare", account = "a", url = "https://r1.example.org/sintra" }
      r2 = { platform = "cloudflare", provider = "cloudflare", account = "b", workers_dev_subdomain = "b" }
      r3 = { platform = "lambda", provider = "aws", account = "c", region = "eu-central-1" }
      r4 = { platform = "lambda", provider = "aws", account = "d", region = "eu-central-1" }
    }
  }

  expect_failures = [var.replicas]
}

run "cloudflare_settings_on_a_lambda_replica" {
  command = plan

  variables {
    replicas = {
      r1 = { platform = "cloudflare", provider = "cloudflare", account = "a", workers_dev_subdomain = "a" }
      r2 = { platform = "cloudflare", provider = "cloudflare", account = "b", workers_dev_subdomain = "b" }
      r3 = { platform = "lambda", provider = "aws", account = "c", region = "eu-central-1", location_hint = "weur" }
      r4 = { platform = "lambda", provider = "aws", account = "d" }
    }
  }

  # Both the Cloudflare-only field and the missing region are reported.
  expect_failures = [var.replicas]
}

run "deploy_names_an_unknown_replica" {
  command = plan

  variables {
    deploy = ["r9"]
  }

  expect_failures = [var.deploy]
}
