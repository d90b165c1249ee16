// k8s.io/kubernetes v1.30 requires k8s.io/legacy-cloud-providers v0.0.0, which exists only as a
// staging directory of the kubernetes repository; with -tags providerless nothing imports it, so
// this empty module satisfies the requirement.
module k8s.io/legacy-cloud-providers

go 1.22.0
