variable "group_json" {
  description = "Text of the public group.json written by `sintra deal` (the same file every replica and client gets)."
  type        = string

  validation {
    condition     = try(jsondecode(var.group_json).format, "") == "sintra-edge/group@1"
    error_message = "group_json is not a Sintra Edge group.json (format \"sintra-edge/group@1\")."
  }
}

variable "replicas" {
  description = "Where each replica of the group runs: the \"replicas\" object of the deployment file (see infra/deploy/deployment.ts)."
  type = map(object({
    platform              = string
    provider              = string
    account               = string
    name                  = optional(string)
    url                   = optional(string)
    account_id            = optional(string)
    workers_dev_subdomain = optional(string)
    custom_domain = optional(object({
      zone_id  = string
      hostname = string
    }))
    location_hint = optional(string)
    jurisdiction  = optional(string)
    region        = optional(string)
    redis_region  = optional(string)
    redis_url     = optional(string)
    storage       = optional(string)
  }))

  validation {
    condition     = alltrue([for r in var.replicas : contains(["cloudflare", "lambda"], r.platform)])
    error_message = "Every replica's platform must be \"cloudflare\" or \"lambda\"; got: ${join(", ", [for id, r in var.replicas : "${id}=${r.platform}" if !contains(["cloudflare", "lambda"], r.platform)])}."
  }

  validation {
    condition     = alltrue([for r in var.replicas : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", r.provider)) && can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", r.account))])
    error_message = "Every replica needs \"provider\" and \"account\" labels (letters, digits, . _ -): they are the failure domains the adversary structure is checked against."
  }

  validation {
    condition     = alltrue([for r in var.replicas : r.name == null || can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", r.name))])
    error_message = "A replica name must be lower-case letters, digits and inner dashes, at most 63 characters (a Worker name, a Lambda function name and a DNS label)."
  }

  validation {
    # Peers post to new URL('/v1/peer', base), which drops any path of the base: a base URL is an origin.
    condition     = alltrue([for r in var.replicas : r.url == null || can(regex("^https://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$", r.url))])
    error_message = "A replica url must be an https origin such as https://r1.example.org: no path, no trailing slash (peers post to /v1/peer at the root)."
  }

  validation {
    condition = alltrue([for r in var.replicas : r.platform == "cloudflare" || (
      r.account_id == null && r.workers_dev_subdomain == null && r.custom_domain == null && r.location_hint == null && r.jurisdiction == null
    )])
    error_message = "account_id, workers_dev_subdomain, custom_domain, location_hint and jurisdiction apply to Cloudflare replicas only."
  }

  validation {
    condition     = alltrue([for r in var.replicas : r.platform == "lambda" || (r.region == null && r.redis_region == null && r.redis_url == null)])
    error_message = "region, redis_region and redis_url apply to Lambda replicas only."
  }

  validation {
    # The same pattern as infra/deploy/deployment.ts: the whole URL names the database.
    condition     = alltrue([for r in var.replicas : r.redis_url == null || can(regex("^https://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$", coalesce(r.redis_url, "-")))])
    error_message = "A redis_url is the REST URL of the replica's own existing database, an https origin such as https://eu1-example-12345.upstash.io (no path, no trailing slash)."
  }

  validation {
    condition     = alltrue([for r in var.replicas : r.redis_url == null || r.redis_region == null])
    error_message = "redis_region only applies to the database terraform creates; with redis_url the database exists already."
  }

  validation {
    condition     = alltrue([for r in var.replicas : r.storage == null || can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", coalesce(r.storage, "-")))])
    error_message = "A replica's storage is a label for its storage failure domain (letters, digits, . _ -)."
  }

  validation {
    condition     = alltrue([for r in var.replicas : r.platform != "lambda" || can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", r.region))])
    error_message = "Every Lambda replica needs its AWS region, e.g. \"region\": \"eu-central-1\"."
  }

  validation {
    condition     = alltrue([for r in var.replicas : r.location_hint == null || contains(["wnam", "enam", "sam", "weur", "eeur", "apac", "apac-ne", "apac-se", "oc", "afr", "me"], coalesce(r.location_hint, "-"))])
    error_message = "location_hint must be a Durable Object location hint: wnam, enam, sam, weur, eeur, apac, apac-ne, apac-se, oc, afr or me."
  }

  validation {
    condition     = alltrue([for r in var.replicas : r.jurisdiction == null || contains(["eu", "fedramp", "fedramp-high"], coalesce(r.jurisdiction, "-"))])
    error_message = "jurisdiction must be eu, fedramp or fedramp-high."
  }

  validation {
    condition     = alltrue([for r in var.replicas : r.account_id == null || can(regex("^[0-9a-f]{32}$", coalesce(r.account_id, "-")))])
    error_message = "A Cloudflare account_id is 32 lower-case hex digits."
  }

  validation {
    condition     = alltrue([for r in var.replicas : r.workers_dev_subdomain == null || can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", coalesce(r.workers_dev_subdomain, "-")))])
    error_message = "workers_dev_subdomain is the account's workers.dev subdomain (one DNS label)."
  }

  # The rules below compare the deployment with group.json. A deployment that places another set of replicas
  # than the dealer dealt, or contradicts the attributes it was dealt for, is refused before anything is
  # created. (A rule may not use locals derived from var.replicas itself: that is a cycle in Terraform.)

  validation {
    condition     = length(setsubtract(keys(var.replicas), local.ids)) == 0
    error_message = "Unknown replica id(s) ${join(", ", sort(tolist(setsubtract(keys(var.replicas), local.ids))))}: group.json has ${join(", ", local.ids)}."
  }

  validation {
    condition     = alltrue([for id in local.ids : contains(keys(var.replicas), id)])
    error_message = "No deployment for replica(s) ${join(", ", [for id in local.ids : id if !contains(keys(var.replicas), id)])}: every replica of the group must be placed (group.json has ${join(", ", local.ids)})."
  }

  validation {
    condition     = length(distinct([for id, r in var.replicas : coalesce(r.name, "${var.name_prefix}-${id}")])) == length(var.replicas)
    error_message = "Replica names must differ: ${join(", ", [for id, r in var.replicas : "${id}=${coalesce(r.name, "${var.name_prefix}-${id}")}"])}."
  }

  validation {
    condition = (length(distinct(concat([for r in var.replicas : r.url if r.url != null], [for r in var.replicas : "https://${r.custom_domain.hostname}" if r.custom_domain != null])))
    == length(concat([for r in var.replicas : r.url if r.url != null], [for r in var.replicas : r.custom_domain.hostname if r.custom_domain != null])))
    error_message = "Several replicas have the same url or custom domain."
  }

  # No two replicas may share a storage failure domain: when shared storage goes back in time (a restore from
  # an older snapshot, an asynchronous failover) every replica on it signs a different history at once. The
  # labels are those of deployment.ts storageDomain (outputs.storage); a redis_url counts on its own too.
  validation {
    condition = alltrue([for key, ids in transpose({ for id, r in var.replicas : id => distinct(compact([
      r.storage != null ? r.storage : r.redis_url != null ? "redis:${r.redis_url}" : "${r.platform == "cloudflare" ? "durable-object" : "upstash"}:${r.account}/${coalesce(r.name, "${var.name_prefix}-${id}")}",
      r.redis_url == null ? null : "redis:${r.redis_url}",
    ])) }) : length(ids) == 1])
    error_message = "${join("; ", [for key, ids in transpose({ for id, r in var.replicas : id => distinct(compact([
      r.storage != null ? r.storage : r.redis_url != null ? "redis:${r.redis_url}" : "${r.platform == "cloudflare" ? "durable-object" : "upstash"}:${r.account}/${coalesce(r.name, "${var.name_prefix}-${id}")}",
      r.redis_url == null ? null : "redis:${r.redis_url}",
    ])) }) : "replicas ${join(", ", sort(ids))} share one storage failure domain (${key})" if length(ids) > 1])}: when shared storage goes back in time (a restore from an older snapshot, an asynchronous failover) every replica on it signs a different history at once, which the protocol cannot detect once they are more than it tolerates. Give each replica its own database (docs/deploy.md, \"Storage durability and failure domains\")."
  }

  validation {
    condition = length([for id, r in var.replicas : id if anytrue([
      for key in ["provider", "account"] : try(local.group.replicas[local.index[id]].attributes[key] != r[key], false)
    ])]) == 0
    error_message = "The deployment contradicts the attributes the group was dealt with: ${join("; ", flatten([for id, r in var.replicas : [
      for key in ["provider", "account"] : "${id}.${key} is \"${r[key]}\" but group.json says \"${try(local.group.replicas[local.index[id]].attributes[key], "")}\""
      if try(local.group.replicas[local.index[id]].attributes[key] != r[key], false)
    ]]))}."
  }
}

variable "tolerate" {
  description = "Failure domains the deployment claims to tolerate: any one \"account\" and/or any one \"provider\" may be corrupted (all its replicas together)."
  type        = list(string)
  default     = ["account"]

  validation {
    condition     = alltrue([for d in var.tolerate : contains(["account", "provider"], d)])
    error_message = "tolerate lists failure domains: \"account\" and/or \"provider\"."
  }

  validation {
    condition     = alltrue([for key in var.tolerate : alltrue(values(lookup(local.corruptible, key, {})))])
    error_message = "The deployment claims to tolerate any one ${join(" and any one ", var.tolerate)}, but ${join("; ", flatten([for key in var.tolerate : [for v, ok in lookup(local.corruptible, key, {}) : "${key} \"${v}\" holds ${join(", ", local.domains[key][v])}" if !ok]]))}: the adversary structure (${local.structure_text}) does not allow these to be corrupted together, so whoever controls one of them controls the group. Spread the replicas out, deal a matching structure (sintra deal --structure), or stop claiming it."
  }
}

variable "name_prefix" {
  description = "Default replica name: <name_prefix>-<replica id>."
  type        = string
  default     = "sintra"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,40}$", var.name_prefix))
    error_message = "name_prefix: lower-case letters, digits and dashes, at most 41 characters."
  }
}

variable "deploy" {
  description = "Replica ids this run deploys (its credentials and its state); null: all of them."
  type        = list(string)
  default     = null

  validation {
    condition     = var.deploy == null || length(setsubtract(coalesce(var.deploy, []), keys(var.replicas))) == 0
    error_message = "deploy names replicas the deployment does not have: ${join(", ", setsubtract(coalesce(var.deploy, []), keys(var.replicas)))}."
  }
}

variable "dynamic_urls" {
  description = "Base URLs only known once created in this run (Lambda function URLs): replica id -> URL. Used in `peers` (Cloudflare) but never in `peers_static` (Lambda), which would be a cycle."
  type        = map(string)
  default     = {}
}
