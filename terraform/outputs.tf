output "group_id" {
  description = "The group id of group.json: what clients pin (with the kernel key), docs/deploy.md."
  value       = module.group.group_id
}

output "replica_urls" {
  description = "Replica id -> base URL (null: not known to this run; set \"url\" in the deployment file)."
  value       = module.group.urls
}

output "lambda_urls" {
  description = "Lambda replicas of this run -> function URL: put each into the deployment file as that replica's \"url\", then apply again (every operator)."
  value       = { for id, u in aws_lambda_function_url.replica : id => trimsuffix(u.function_url, "/") }
}

output "storage" {
  description = "Deployed replica -> its storage failure domain (one per replica) and what that storage must guarantee."
  value       = { for id in module.group.deploy_ids : id => { domain = module.group.storage[id], durability = module.group.durability[id] } }
}

output "peers" {
  description = "Replica id -> SINTRA_PEERS as configured in this run."
  value       = { for id in module.group.deploy_ids : id => local.replicas[id].platform == "lambda" ? module.group.peers_static[id] : module.group.peers[id] }
}

output "missing_peer_urls" {
  description = "Deployed replica -> peers whose URL it does not have yet. Empty everywhere once the deployment file lists every Lambda URL."
  value       = { for id in module.group.deploy_ids : id => module.group.missing_urls[id] if length(module.group.missing_urls[id]) > 0 }
}

output "check" {
  description = "What to run once deployed."
  value       = [for id in module.group.deploy_ids : "curl -s ${coalesce(module.group.urls[id], "<${id} url>")}/v1/health"]
}
