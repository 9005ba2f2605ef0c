# Cloudflare replicas: one Worker per replica whose single SQLite-backed Durable Object (ReplicaObject) is the
# replica (docs/operations.md). The Worker is the bundle built from a `sintra deploy-config --group-as module`
# config, so group.json is inside it and no 5 KB variable limit applies; location hint and jurisdiction are
# vars read by its entry (infra/deploy/replica-entry.js).

locals {
  # One shape for every binding (unused fields null): the provider's list element type.
  binding = { type = null, name = null, class_name = null, text = null }

  worker_bindings = { for id, r in local.cloudflare : id => concat(
    [
      merge(local.binding, { type = "durable_object_namespace", name = "REPLICA", class_name = "ReplicaObject" }),
      merge(local.binding, { type = "plain_text", name = "SINTRA_PEERS", text = module.group.peers[id] }),
    ],
    r.location_hint == null ? [] : [merge(local.binding, { type = "plain_text", name = "SINTRA_DO_LOCATION_HINT", text = r.location_hint })],
    r.jurisdiction == null ? [] : [merge(local.binding, { type = "plain_text", name = "SINTRA_DO_JURISDICTION", text = r.jurisdiction })],
    local.client_rate == null ? [] : [merge(local.binding, { type = "plain_text", name = "SINTRA_CLIENT_RATE", text = tostring(local.client_rate) })],
    local.cors_origins == null ? [] : [merge(local.binding, { type = "plain_text", name = "SINTRA_CORS_ORIGINS", text = local.cors_origins })],
    # Secret values from the dealer's file: write-only at Cloudflare, but stored in this run's state.
    !var.manage_cloudflare_secrets ? [] : [
      for name in module.group.secret_names : merge(local.binding, { type = "secret_text", name = name, text = local.secrets[id][name] })
    ],
  ) }
}

resource "cloudflare_workers_script" "replica" {
  for_each = local.cloudflare

  account_id         = each.value.account_id
  script_name        = module.group.names[each.key]
  content_file       = var.worker_bundle
  content_sha256     = filesha256(var.worker_bundle)
  main_module        = basename(var.worker_bundle)
  compatibility_date = var.compatibility_date
  # node:crypto's native SHA-256 (workers/core/native-sha256.ts); as wrangler.toml and sintra deploy-config.
  compatibility_flags = ["nodejs_compat"]

  # BLS verification costs ~10-20 ms of CPU per call: Workers Paid plan (docs/operations.md).
  limits = { cpu_ms = 30000 }

  # The replica's state lives in this class's storage: never delete or rename it, never add a migration
  # that does (a replica on empty state with its old keys could equivocate).
  migrations = {
    new_tag            = "v1"
    new_sqlite_classes = ["ReplicaObject"]
  }

  bindings = local.worker_bindings[each.key]
  # With secrets set by `wrangler secret bulk`, an upload must keep them rather than delete them.
  keep_bindings = var.manage_cloudflare_secrets ? null : ["secret_text"]

  lifecycle {
    precondition {
      condition     = strcontains(file(var.worker_bundle), module.group.group_id)
      error_message = "${var.worker_bundle} does not contain group ${module.group.group_id}: build it from this group's configs with --group-as module (README.md)."
    }
  }
}

resource "cloudflare_workers_script_subdomain" "replica" {
  for_each = { for id, r in local.cloudflare : id => r if r.custom_domain == null }

  account_id       = each.value.account_id
  script_name      = cloudflare_workers_script.replica[each.key].script_name
  enabled          = true
  previews_enabled = false
}

resource "cloudflare_workers_custom_domain" "replica" {
  for_each = { for id, r in local.cloudflare : id => r if r.custom_domain != null }

  account_id  = each.value.account_id
  zone_id     = each.value.custom_domain.zone_id
  hostname    = each.value.custom_domain.hostname
  service     = cloudflare_workers_script.replica[each.key].script_name
  environment = "production"
}
