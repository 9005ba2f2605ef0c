output "group_id" {
  description = "The group id (hex) of group.json."
  value       = local.group.groupId
}

output "replica_ids" {
  description = "Replica ids in index order (the order of SINTRA_PEERS)."
  value       = local.ids
}

output "index" {
  description = "Replica id -> index."
  value       = local.index
}

output "names" {
  description = "Replica id -> Worker / Lambda function name."
  value       = local.names
}

output "deploy_ids" {
  description = "Replica ids this run deploys, in index order."
  value       = local.deploy_ids
}

output "cloudflare_ids" {
  description = "Cloudflare replicas this run deploys."
  value       = [for id in local.deploy_ids : id if var.replicas[id].platform == "cloudflare"]
}

output "lambda_ids" {
  description = "Lambda replicas this run deploys."
  value       = [for id in local.deploy_ids : id if var.replicas[id].platform == "lambda"]
}

output "static_urls" {
  description = "Replica id -> base URL known before anything is created (null: known only after creation)."
  value       = local.static_urls
}

output "urls" {
  description = "Replica id -> base URL, including dynamic_urls."
  value       = local.urls
}

output "peers_static" {
  description = "Replica id -> SINTRA_PEERS (JSON) from static URLs only: for replicas whose own URL is created in this run (no cycle)."
  value       = local.peers_static
}

output "peers" {
  description = "Replica id -> SINTRA_PEERS (JSON array of base URLs by index, null for the replica itself and unknown URLs)."
  value       = local.peers
}

output "missing_urls" {
  description = "Replica id -> ids of peers whose URL is not in its peers_static: apply again after setting their \"url\" in the deployment file."
  value       = { for id in local.ids : id => [for j in local.ids : j if j != id && lookup(local.static_urls, j, null) == null] }
}

output "domains" {
  description = "Failure domain (account, provider) -> value -> replica ids."
  value       = local.domains
}

output "tolerated" {
  description = "Failure domain -> value -> whether the structure allows all its replicas to be corrupted together."
  value       = local.corruptible
}

output "storage" {
  description = "Replica id -> its storage failure domain (no two replicas share one)."
  value       = local.storage
}

output "durability" {
  description = "Replica id -> what its storage must guarantee: every acknowledged write survives, and it never goes back in time."
  value       = local.durability
}

output "secret_names" {
  description = "The five secrets of a replica (the keys of the dealer's <id>.secrets.json)."
  value       = local.secret_names
}

output "replicas" {
  description = "The validated replicas of the deployment file, with every optional field present (null when unset)."
  value       = var.replicas
}
