# AWS Lambda replicas: one function per replica running the package of `sintra deploy-config`
# (infra/deploy/lambda-bundle.ts: workers/node/lambda.ts with group.json inside), its state in its own Upstash
# Redis database (created here, or an existing one of its own named by the replica's redis_url in the
# deployment file; modules/group refuses two replicas on one database), a public function URL for clients and
# peers (links are authenticated by MACs, not by AWS), and an EventBridge rule for the retransmission tick.
#
# ONE function per replica, with reserved concurrency 1: the replica's state must have one process at a time
# (workers/node/redis-store.ts stops a replica for good when it sees a second writer), so the tick goes to
# the same function (`index.dispatch` routes it) instead of a function of its own.

data "archive_file" "lambda" {
  count = length(local.lambda) > 0 ? 1 : 0

  type        = "zip"
  source_dir  = var.lambda_package_dir
  output_path = "${path.module}/.terraform/sintra-lambda.zip"
}

locals {
  # Lambda replicas whose database terraform creates (the others name their own existing one: redis_url).
  lambda_own_redis = { for id, r in local.lambda : id => r if r.redis_url == null }
}

# One database per replica: a replica's storage is its own failure domain. If a database ever goes back in
# time (restored from an older backup), its replica re-signs a different history; treat it as faulty.
resource "upstash_redis_database" "replica" {
  for_each = local.lambda_own_redis

  database_name  = module.group.names[each.key]
  region         = "global"
  primary_region = coalesce(each.value.redis_region, each.value.region)
  tls            = true
  # Never evict: the journal, outbox and link state are protocol state; losing them is losing the replica.
  eviction = false
}

resource "aws_iam_role" "replica" {
  for_each = local.lambda

  name = "${module.group.names[each.key]}-lambda"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "lambda.amazonaws.com" } }]
  })
}

resource "aws_iam_role_policy_attachment" "logs" {
  for_each = local.lambda

  role       = aws_iam_role.replica[each.key].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

locals {
  lambda_env = { for id, r in local.lambda : id => merge(
    local.secrets[id],
    {
      # URLs of Lambda peers created in this same run are not known here (null until the next apply).
      SINTRA_PEERS             = module.group.peers_static[id]
      UPSTASH_REDIS_REST_URL   = r.redis_url != null ? r.redis_url : "https://${upstash_redis_database.replica[id].endpoint}"
      UPSTASH_REDIS_REST_TOKEN = r.redis_url != null ? lookup(var.redis_tokens, id, "") : upstash_redis_database.replica[id].rest_token
    },
    local.client_rate == null ? {} : { SINTRA_CLIENT_RATE = tostring(local.client_rate) },
    local.cors_origins == null ? {} : { SINTRA_CORS_ORIGINS = local.cors_origins },
  ) }
}

resource "aws_lambda_function" "replica" {
  for_each = local.lambda

  region           = each.value.region
  function_name    = module.group.names[each.key]
  role             = aws_iam_role.replica[each.key].arn
  runtime          = "nodejs22.x"
  architectures    = ["arm64"]
  handler          = "index.dispatch"
  filename         = data.archive_file.lambda[0].output_path
  source_code_hash = data.archive_file.lambda[0].output_base64sha256
  memory_size      = var.lambda_memory_mb
  timeout          = var.lambda_timeout_s
  # One process per replica state. New accounts may have a concurrency quota too small to reserve from.
  reserved_concurrent_executions = 1

  environment {
    variables = local.lambda_env[each.key]
  }

  lifecycle {
    precondition {
      # Lambda's limit is 4 KB for all variables together; group.json is in the package, not here.
      condition     = nonsensitive(sum([for k, v in local.lambda_env[each.key] : length(k) + length(v)])) <= 4096
      error_message = "The environment of Lambda replica ${each.key} exceeds Lambda's 4 KB limit (its key shares are too large for environment variables)."
    }
  }
}

resource "aws_lambda_function_url" "replica" {
  for_each = local.lambda

  region             = each.value.region
  function_name      = aws_lambda_function.replica[each.key].function_name
  authorization_type = "NONE"
}

# A public function URL needs both permissions since October 2025; the second only via the URL.
resource "aws_lambda_permission" "url" {
  for_each = local.lambda

  region                 = each.value.region
  statement_id           = "SintraPublicFunctionUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.replica[each.key].function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

resource "aws_lambda_permission" "url_invoke" {
  for_each = local.lambda

  region                   = each.value.region
  statement_id             = "SintraPublicFunctionUrlInvoke"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_function.replica[each.key].function_name
  principal                = "*"
  invoked_via_function_url = true
}

resource "aws_cloudwatch_event_rule" "tick" {
  for_each = local.lambda

  region              = each.value.region
  name                = "${module.group.names[each.key]}-tick"
  description         = "Retransmission tick of Sintra Edge replica ${each.key}"
  schedule_expression = var.tick_schedule
}

resource "aws_cloudwatch_event_target" "tick" {
  for_each = local.lambda

  region = each.value.region
  rule   = aws_cloudwatch_event_rule.tick[each.key].name
  arn    = aws_lambda_function.replica[each.key].arn
  # TICK_EVENT of infra/deploy/lambda-bundle.ts: `dispatch` sends it to tick.
  input = jsonencode({ sintra = "tick" })
}

resource "aws_lambda_permission" "tick" {
  for_each = local.lambda

  region        = each.value.region
  statement_id  = "SintraTick"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.replica[each.key].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.tick[each.key].arn
}
