variable "deployment_file" {
  description = "The deployment file (JSON): where every replica of the group runs, and group_file relative to it. The same file `sintra deploy-config --deployment` reads."
  type        = string
}

variable "deploy" {
  description = "Replica ids this run deploys, with this run's credentials and state (null: all; only for a test group). Run once per operator."
  type        = list(string)
  default     = null
}

variable "worker_bundle" {
  description = "The bundled replica Worker with group.json inside: `sintra deploy-config --group-as module`, then `wrangler deploy --dry-run --outdir DIR --config <any replica's config>`; this is DIR/replica-entry.js. Needed when this run deploys a Cloudflare replica."
  type        = string
  default     = null
}

variable "lambda_package_dir" {
  description = "Directory holding index.mjs, the Lambda package `sintra deploy-config` writes to OUT/lambda. Needed when this run deploys a Lambda replica."
  type        = string
  default     = null
}

variable "secrets_dir" {
  description = "Directory of the dealer's <id>.secrets.json for the replicas this run deploys. Their values end up in this run's state (README.md)."
  type        = string
  default     = null
}

variable "redis_tokens" {
  description = "Lambda replicas whose deployment names an existing database (redis_url): replica id -> that database's REST token. It lands in this run's state, as the token of a database terraform creates does."
  type        = map(string)
  default     = {}
  sensitive   = true
}

variable "manage_cloudflare_secrets" {
  description = "true: the five secrets become secret_text bindings (and land in state). false: set them with `wrangler secret bulk` and keep them out of terraform (keep_bindings)."
  type        = bool
  default     = true
}

variable "compatibility_date" {
  description = "Workers compatibility date; the same as infra/cluster/local-cluster.ts COMPATIBILITY_DATE (what the tests run)."
  type        = string
  default     = "2026-05-01"
}

variable "aws_region" {
  description = "Default region of the AWS provider (IAM is global; every Lambda replica sets its own region)."
  type        = string
  default     = "eu-central-1"
}

variable "lambda_memory_mb" {
  description = "Memory of a Lambda replica; CPU grows with it, and BLS pairings are CPU-bound."
  type        = number
  default     = 1024
}

variable "lambda_timeout_s" {
  description = "Timeout of a Lambda invocation; above the replica's tick budget (20 s) and flush budget (3 s)."
  type        = number
  default     = 30
}

variable "tick_schedule" {
  description = "EventBridge schedule of a Lambda replica's retransmission tick."
  type        = string
  default     = "rate(1 minute)"
}
