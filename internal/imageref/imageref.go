// Package imageref maps image references onto a private registry (a mirror), for installs whose
// nodes cannot reach the public registries.
package imageref

import (
	"errors"
	"strings"
)

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// CheckRegistry accepts a registry host with an optional port and path ("registry.example.com",
// "registry.example.com:5000/mirror"): no scheme, tag or digest.
func CheckRegistry(r string) error {
	if strings.Contains(r, "://") {
		return errors.New("want a registry host and optional path, without a scheme")
	}
	if strings.ContainsFunc(r, isSpaceOrControl) || strings.ContainsAny(r, "@") {
		return errors.New("contains white space, control characters or a digest")
	}
	host, path, _ := strings.Cut(r, "/")
	if host != "localhost" && !strings.HasPrefix(host, "localhost:") && !strings.ContainsAny(host, ".:") {
		return errors.New("the first component must be a registry host (with a dot or a port, or localhost)")
	}
	for seg := range strings.SplitSeq(path, "/") {
		if path != "" && seg == "" {
			return errors.New("empty path segment")
		}
	}
	return nil
}

// Mirror is image as pulled from registry: the image's own registry host (the first path
// component when it has a dot or a port or is localhost; Docker Hub otherwise) is replaced by
// registry, the rest is kept: with registry "registry.example.com/mirror",
// quay.io/argoproj/argoexec:v3.7.18 becomes registry.example.com/mirror/argoproj/argoexec:v3.7.18
// and chaosnative/k8s:2.11.0 becomes registry.example.com/mirror/chaosnative/k8s:2.11.0. Docker
// Hub's official images keep their "library/" prefix. An image already under registry, or an
// empty registry, leaves image unchanged.
func Mirror(registry, image string) string {
	if registry == "" || image == "" || strings.HasPrefix(image, registry+"/") {
		return image
	}
	first, rest, ok := strings.Cut(image, "/")
	switch {
	case !ok:
		rest = "library/" + image // busybox → library/busybox
	case strings.ContainsAny(first, ".:") || first == "localhost":
		if first == "docker.io" || first == "index.docker.io" {
			if !strings.Contains(rest, "/") {
				rest = "library/" + rest
			}
		}
	default:
		rest = image
	}
	return registry + "/" + rest
}
