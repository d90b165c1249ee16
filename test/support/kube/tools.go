//go:build tools

// The Kubernetes components the test cluster runs, pinned by this module's go.mod (kwok is
// installed by build.sh with its own module, see there).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
