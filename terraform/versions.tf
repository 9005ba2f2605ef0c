terraform {
  # Variable validations that refer to other variables (modules/group) need 1.9.
  required_version = ">= 1.9"

  required_providers {
    cloudflare = {
      source  = "cloudflare/cloudflare"
      version = "~> 5.0"
    }
    aws = {
      # 6.x: the per-resource `region` argument (replicas in several regions from one provider block) and
      # `invoked_via_function_url` on aws_lambda_permission (public function URLs since October 2025).
      source  = "hashicorp/aws"
      version = "~> 6.42"
    }
    upstash = {
      source  = "upstash/upstash"
      version = "~> 1.5"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }
}

# Credentials come from the environment, one operator at a time (see README.md): CLOUDFLARE_API_TOKEN; the
# usual AWS variables or profile; UPSTASH_EMAIL and UPSTASH_API_KEY. A run that deploys no Lambda replica
# never calls AWS or Upstash, and one that deploys no Cloudflare replica never calls Cloudflare.
provider "cloudflare" {}

provider "aws" {
  region = var.aws_region
}

provider "upstash" {}
