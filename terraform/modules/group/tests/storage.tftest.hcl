# Storage failure domains: every replica keeps its state in storage of its own. A replica whose storage goes
# back in time signs a different history; storage shared by several replicas takes them all back at once.
# The same rule and the same labels as infra/deploy/deployment.ts (storageDomain).

variables {
  group_json = <<-EOT
    {"format": "sintra-edge/group@1", "groupId": "5e1f000000000000000000000000000000000000000000000000000000005707",
     "testOnly": true,
     "replicas": [{"index": 0, "id": "r1", "attributes": {}}, {"index": 1, "id": "r2", "attributes": {}},
                  {"index": 2, "id": "r3", "attributes": {}}, {"index": 3, "id": "r4", "attributes": {}}],
     "adversary": {"threshold": 1}, "structure": {"type": "threshold", "n": 4, "t": 1}, "keys": {}}
  EOT
  replicas = {
    r1 = { platform = "cloudflare", provider = "cloudflare", account = "cf-alice", workers_dev_subdomain = "alice" }
    r2 = { platform = "cloudflare", provider = "cloudflare", account = "cf-bob", workers_dev_subdomain = "bob" }
    r3 = { platform = "lambda", provider = "aws", account = "aws-carol", region = "eu-central-1" }
    r4 = { platform = "lambda", provider = "aws", account = "aws-dave", region = "us-east-1", redis_url = "https://eu1-dave-12345.upstash.io" }
  }
  deploy = ["r4"]
}

run "each_replica_has_storage_of_its_own_by_default" {
  command = plan

  assert {
    condition = output.storage == {
      r1 = "durable-object:cf-alice/sintra-r1"
      r2 = "durable-object:cf-bob/sintra-r2"
      r3 = "upstash:aws-carol/sintra-r3"
      r4 = "redis:https://eu1-dave-12345.upstash.io"
    }
    error_message = "a Durable Object per Worker, a database per Lambda replica (created, or named by redis_url)"
  }
  assert {
    condition     = strcontains(output.durability.r4, "appendfsync always") && strcontains(output.durability.r1, "Durable Object")
    error_message = "what each backend must guarantee"
  }
}

run "two_replicas_on_one_redis_url_are_refused" {
  command = plan

  variables {
    replicas = {
      r1 = { platform = "cloudflare", provider = "cloudflare", account = "cf-alice", workers_dev_subdomain = "alice" }
      r2 = { platform = "cloudflare", provider = "cloudflare", account = "cf-bob", workers_dev_subdomain = "bob" }
      r3 = { platform = "lambda", provider = "aws", account = "aws-carol", region = "eu-central-1", redis_url = "https://eu1-shared-1.upstash.io" }
      r4 = { platform = "lambda", provider = "aws", account = "aws-dave", region = "us-east-1", redis_url = "https://eu1-shared-1.upstash.io" }
    }
  }

  expect_failures = [var.replicas]
}

run "one_redis_url_is_refused_even_under_different_storage_labels" {
  command = plan

  variables {
    replicas = {
      r1 = { platform = "cloudflare", provider = "cloudflare", account = "cf-alice", workers_dev_subdomain = "alice" }
      r2 = { platform = "cloudflare", provider = "cloudflare", account = "cf-bob", workers_dev_subdomain = "bob" }
      r3 = { platform = "lambda", provider = "aws", account = "aws-carol", region = "eu-central-1", redis_url = "https://eu1-shared-1.upstash.io", storage = "db-a" }
      r4 = { platform = "lambda", provider = "aws", account = "aws-dave", region = "us-east-1", redis_url = "https://eu1-shared-1.upstash.io", storage = "db-b" }
    }
  }

  expect_failures = [var.replicas]
}

run "two_replicas_declaring_one_storage_are_refused" {
  command = plan

  variables {
    replicas = {
      r1 = { platform = "cloudflare", provider = "cloudflare", account = "cf-alice", workers_dev_subdomain = "alice" }
      r2 = { platform = "cloudflare", provider = "cloudflare", account = "cf-bob", workers_dev_subdomain = "bob" }
      r3 = { platform = "lambda", provider = "aws", account = "aws-carol", region = "eu-central-1", storage = "redis-cluster-1" }
      r4 = { platform = "lambda", provider = "aws", account = "aws-dave", region = "us-east-1", storage = "redis-cluster-1" }
    }
  }

  expect_failures = [var.replicas]
}

run "redis_url_on_a_cloudflare_replica_or_with_a_path_is_refused" {
  command = plan

  variables {
    replicas = {
      r1 = { platform = "cloudflare", provider = "cloudflare", account = "cf-alice", workers_dev_subdomain = "alice", redis_url = "https://eu1-a.upstash.io" }
      r2 = { platform = "cloudflare", provider = "cloudflare", account = "cf-bob", workers_dev_subdomain = "bob" }
      r3 = { platform = "lambda", provider = "aws", account = "aws-carol", region = "eu-central-1", redis_url = "https://eu1-c.upstash.io/" }
      r4 = { platform = "lambda", provider = "aws", account = "aws-dave", region = "us-east-1" }
    }
  }

  expect_failures = [var.replicas]
}
