# What every replica's deployment needs and no provider decides: names, base URLs, the peer list by replica
# index, and the check that the placement (accounts, providers) fits the adversary structure of group.json.
# The same rules as infra/deploy/deployment.ts (sintra deploy-config), so both tools refuse the same files.

locals {
  group     = try(jsondecode(var.group_json), { replicas = [], structure = { type = "threshold", n = 0, t = 0 }, groupId = "" })
  ids       = [for r in local.group.replicas : r.id]
  index     = { for r in local.group.replicas : r.id => r.index }
  structure = local.group.structure
  # Maximal corruptible sets as replica index lists; a threshold structure is checked by counting instead.
  maximal = try(local.structure.maximalCorruptible, [])
  t       = try(local.structure.t, 0)
  structure_text = (local.structure.type == "threshold"
    ? "any ${local.t} of ${length(local.ids)}"
  : "${length(local.maximal)} maximal corruptible sets over ${length(local.ids)} replicas")

  names = { for id, r in var.replicas : id => coalesce(r.name, "${var.name_prefix}-${id}") }

  # Base URLs known without creating anything: declared, a custom domain, or the workers.dev address.
  static_urls = { for id, r in var.replicas : id => (
    r.url != null ? r.url :
    r.platform == "cloudflare" && r.custom_domain != null ? "https://${r.custom_domain.hostname}" :
    r.platform == "cloudflare" && r.workers_dev_subdomain != null ? "https://${local.names[id]}.${r.workers_dev_subdomain}.workers.dev" :
    null
  ) }

  # Storage failure domain of each replica (deployment.ts storageDomain; variables.tf refuses two replicas
  # with the same one) and what that storage must guarantee (deployment.ts storageDurability).
  storage = { for id, r in var.replicas : id => (
    r.storage != null ? r.storage : r.redis_url != null ? "redis:${r.redis_url}" : "${r.platform == "cloudflare" ? "durable-object" : "upstash"}:${r.account}/${local.names[id]}"
  ) }
  durability = { for id, r in var.replicas : id => (
    r.platform == "cloudflare" ? "Durable Object SQLite storage, durable when a write completes (nothing to configure)" :
    r.redis_url != null ? "its own existing Redis database: appendonly yes + appendfsync always and no eviction (or a provider guarantee that acknowledged writes are on disk), never restored from an older snapshot, no failover to an asynchronous replica" :
    "its own Upstash database (terraform creates it): every acknowledged write must survive; check what your Upstash plan guarantees (docs/deploy.md, section 14)"
  ) }

  # Failure domain -> value -> replica ids (sorted); corruptible iff inside one maximal corruptible set.
  domains = { for key in ["account", "provider"] : key => {
    for v in distinct([for id, r in var.replicas : r[key]]) : v => sort([for id, r in var.replicas : id if r[key] == v])
  } }
  corruptible = { for key, groups in local.domains : key => {
    for v, members in groups : v => (
      local.structure.type == "threshold"
      ? length(members) <= local.t
      : anytrue([for s in local.maximal : length(setsubtract([for id in members : try(local.index[id], -1)], s)) == 0])
    )
  } }

  deploy_ids = [for id in local.ids : id if var.deploy == null || contains(coalesce(var.deploy, []), id)]
  # Whoever holds this run's credentials and state holds all of deploy_ids at once.
  deploy_corruptible = (local.structure.type == "threshold"
    ? length(local.deploy_ids) <= local.t
  : anytrue([for s in local.maximal : length(setsubtract([for id in local.deploy_ids : local.index[id]], s)) == 0]))

  peers_static = { for id in local.ids : id => jsonencode([for j in local.ids : j == id ? null : lookup(local.static_urls, j, null)]) }
  urls         = { for id in local.ids : id => try(coalesce(lookup(var.dynamic_urls, id, null), lookup(local.static_urls, id, null)), null) }
  peers        = { for id in local.ids : id => jsonencode([for j in local.ids : j == id ? null : local.urls[j]]) }

  secret_names = ["SINTRA_GROUP_ID", "SINTRA_REPLICA_ID", "SINTRA_REPLICA_INDEX", "SINTRA_KEY_SHARES", "SINTRA_LINK_SECRET"]
}

check "one_operator_per_run" {
  assert {
    condition     = local.deploy_corruptible
    error_message = "This run deploys ${join(", ", local.deploy_ids)} with one set of credentials and one state file: whoever runs it, or reads its state, holds a set of replicas the adversary structure (${local.structure_text}) does not allow to be corrupted together. For a real group, run once per operator with var.deploy set to that operator's replicas."
  }
}
