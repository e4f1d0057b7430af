"""kube2sky: keeps the /skydns tree in step with the API server's objects."""
