"""GitOps: manifest bumps (kustomize, Helm values), git transactions, layout, Argo CD manifests."""
