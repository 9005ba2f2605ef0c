# A Sintra Edge group deployed across providers from one deployment file (README.md). This root module holds
# only provider resources; names, peer lists and the check that the placement fits the adversary structure
# are in modules/group, which runs offline (`terraform test`).

locals {
  deployment     = jsondecode(file(var.deployment_file))
  deployment_dir = dirname(var.deployment_file)
  group_file     = startswith(local.deployment.group_file, "/") ? local.deployment.group_file : "${local.deployment_dir}/${local.deployment.group_file}"
  client_rate    = try(local.deployment.client_rate, null)
  cors_origins   = try(local.deployment.cors_origins, null)

  replicas   = module.group.replicas
  cloudflare = { for id in module.group.cloudflare_ids : id => local.replicas[id] }
  lambda     = { for id in module.group.lambda_ids : id => local.replicas[id] }

  # Only the deployed replicas' files are read: an operator holds only their own.
  secrets = {
    for id in module.group.deploy_ids : id => sensitive(jsondecode(file("${var.secrets_dir}/${id}.secrets.json")))
    if var.secrets_dir != null && (local.replicas[id].platform == "lambda" || var.manage_cloudflare_secrets)
  }
}

module "group" {
  source = "./modules/group"

  group_json  = file(local.group_file)
  replicas    = local.deployment.replicas
  tolerate    = try(local.deployment.tolerate, ["account"])
  name_prefix = try(local.deployment.name_prefix, "sintra")
  deploy      = var.deploy
  # Lambda function URLs exist only once created; Cloudflare peers get them in this run, other Lambdas in
  # the next one (peers_static), since a function cannot wait for a URL that waits for it.
  dynamic_urls = { for id, u in aws_lambda_function_url.replica : id => trimsuffix(u.function_url, "/") }
}

resource "terraform_data" "inputs" {
  lifecycle {
    precondition {
      condition     = length(local.cloudflare) == 0 || var.worker_bundle != null
      error_message = "This run deploys Cloudflare replicas (${join(", ", keys(local.cloudflare))}): set worker_bundle (README.md, \"Build\")."
    }
    precondition {
      condition     = length(local.lambda) == 0 || var.lambda_package_dir != null
      error_message = "This run deploys Lambda replicas (${join(", ", keys(local.lambda))}): set lambda_package_dir (README.md, \"Build\")."
    }
    precondition {
      condition     = var.secrets_dir != null || (length(local.lambda) == 0 && !var.manage_cloudflare_secrets) || length(module.group.deploy_ids) == 0
      error_message = "Set secrets_dir to the directory of the deployed replicas' <id>.secrets.json, or set manage_cloudflare_secrets = false and use `wrangler secret bulk` (Cloudflare replicas only)."
    }
    precondition {
      # Replica ids are not secret; the tokens are.
      condition     = alltrue([for id, r in local.lambda : r.redis_url == null || contains(nonsensitive(keys(var.redis_tokens)), id)])
      error_message = "Lambda replicas with a redis_url need that database's REST token in redis_tokens: ${join(", ", [for id, r in local.lambda : id if r.redis_url != null && !contains(nonsensitive(keys(var.redis_tokens)), id)])}."
    }
    precondition {
      condition     = alltrue([for id, r in local.cloudflare : r.account_id != null])
      error_message = "Every Cloudflare replica this run deploys needs its account_id in the deployment file."
    }
    precondition {
      condition     = alltrue([for id, r in local.cloudflare : r.workers_dev_subdomain != null || r.custom_domain != null || r.url != null])
      error_message = "Every Cloudflare replica needs workers_dev_subdomain or custom_domain, so that its peers know its URL."
    }
  }
}
