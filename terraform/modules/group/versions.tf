# Provider-free on purpose: everything here runs offline (`terraform test`), and the root module keeps only
# provider resources. Validation rules that refer to other variables and locals need Terraform 1.9.
terraform {
  required_version = ">= 1.9"
}
