// Package deploy checks the Kubernetes manifests in deploy/kubernetes by decoding them strictly into the Kubernetes
// API types (k8s.io/api): an unknown or misspelt field, a duplicate field, a wrong type or an unregistered kind fails.
// Run from vitest by test/deploy/kubernetes.test.ts; modules are fetched by scripts/test-deps.sh.
package deploy
