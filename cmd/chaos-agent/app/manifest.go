package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaos-agent/chaos-agent/internal/config"
	"github.com/chaos-agent/chaos-agent/manifests"
)

// manifestFlags are the raw flag values of `chaos-agent manifest`; toOptions turns them into
// manifests.Options.
type manifestFlags struct {
	scope, namespace, serverAddr, infraID, accessKey, accessKeyFile string
	infraConfirmed, skipSSLVerify                                   bool
	customTLSCert, image, argoImage, argoExecImage, version         string
	nodeSelector, tolerations, chaosServiceAccounts                 string
	chaosNamespaces                                                 string
	httpProxy, httpsProxy, noProxy                                  string
	startTime                                                       int64
	crdsOnly, skipCRDs                                              bool
	output                                                          string
	workflowEngine, imageRegistry, imagePullSecrets                 string
	dropInStepImages                                                bool
}

func newManifestCommand(env Env) *cobra.Command {
	var f manifestFlags
	cmd := &cobra.Command{
		Use:   "manifest",
		Short: "Render the install manifest (infra.yaml) for a cluster-wide or namespace-scoped install",
		Long: "manifest prints the Kubernetes objects of a chaos-agent install — ServiceAccounts, least-privilege RBAC,\n" +
			"the subscriber-config ConfigMap and subscriber-secret Secret, the agent and Argo's workflow-controller —\n" +
			"and, in cluster scope, the Namespace, the CRDs and the ClusterRoles. Apply it with kubectl apply -f.\n" +
			"A namespace-scoped install needs the CRDs installed first by an administrator:\n" +
			"  chaos-agent manifest --crds-only | kubectl apply --server-side -f -\n" +
			"Without --server-addr the agent runs as a stand-alone chaos operator. See docs/install.md.",
		Example: "  chaos-agent manifest --scope cluster --namespace hce --server-addr https://chaos.example.com/api/query \\\n" +
			"      --infra-id $INFRA_ID --access-key-file key.txt > infra.yaml && kubectl apply -f infra.yaml",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var buf bytes.Buffer
			if f.crdsOnly {
				if f.skipCRDs {
					return usageError(errors.New("invalid manifest options: --crds-only and --skip-crds exclude each other"))
				}
				if err := manifests.RenderCRDs(&buf); err != nil {
					return err
				}
			} else {
				o, err := f.toOptions(cmd)
				if err == nil {
					err = o.Validate()
				}
				if err != nil {
					return usageError(fmt.Errorf("invalid manifest options: %w", err))
				}
				if err := manifests.Render(&buf, o); err != nil {
					return err
				}
				o = o.WithDefaults()
				if o.CreatesNamespace() {
					fmt.Fprintf(env.Stderr, "chaos-agent manifest: the manifest creates Namespace %s, which the install then owns: deleting the install deletes it and everything in it\n", o.Namespace)
				} else if o.Scope == config.ScopeCluster {
					fmt.Fprintf(env.Stderr, "chaos-agent manifest: Namespace %s is not created (it must exist; it is never part of the install)\n", o.Namespace)
				}
			}
			if f.output == "" || f.output == "-" {
				_, err := env.Stdout.Write(buf.Bytes())
				return err
			}
			// The manifest holds the access key: only its owner may read the file.
			if err := os.WriteFile(f.output, buf.Bytes(), 0o600); err != nil {
				return fmt.Errorf("write manifest: %w", err)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.scope, "scope", string(config.ScopeNamespace), "install scope: cluster or namespace")
	fs.StringVarP(&f.namespace, "namespace", "n", manifests.DefaultNamespace, "the agent's namespace (created in cluster scope; must exist in namespace scope)")
	fs.StringVar(&f.serverAddr, "server-addr", "", "control-plane GraphQL endpoint, e.g. https://chaos.example.com/api/query; empty: a stand-alone chaos operator")
	fs.StringVar(&f.infraID, "infra-id", "", "chaos infrastructure ID issued by the control plane (required with --server-addr)")
	fs.StringVar(&f.accessKey, "access-key", "", "infrastructure access key (it ends up in the rendered Secret; see --access-key-file)")
	fs.StringVar(&f.accessKeyFile, "access-key-file", "", "file holding the infrastructure access key")
	fs.BoolVar(&f.infraConfirmed, "infra-confirmed", false, "IS_INFRA_CONFIRMED=true: re-rendering an install whose key the agent already rotated (pass the current key)")
	fs.StringVar(&f.version, "version", manifests.DefaultVersion, "VERSION reported to the control plane (must equal the control plane's version)")
	fs.Int64Var(&f.startTime, "start-time", 0, "START_TIME in Unix milliseconds (default now; keep the original one when re-rendering)")
	fs.BoolVar(&f.skipSSLVerify, "skip-ssl-verify", false, "do not verify the control plane's TLS certificate (insecure)")
	fs.StringVar(&f.customTLSCert, "custom-tls-cert", "", "base64-encoded PEM CA certificate(s) to trust for the control plane")
	fs.StringVar(&f.image, "image", "", "chaos-agent image (default "+manifests.DefaultImage()+")")
	fs.StringVar(&f.argoImage, "argo-image", manifests.DefaultArgoImage, "Argo workflow-controller image")
	fs.StringVar(&f.argoExecImage, "argo-exec-image", manifests.DefaultArgoExecImage, "Argo executor (argoexec) image")
	fs.StringVar(&f.nodeSelector, "node-selector", "", "node selector of the agent and the workflow-controller: key=value[,key=value...]")
	fs.StringVar(&f.tolerations, "tolerations", "", `tolerations of the agent and the workflow-controller, as a JSON list of Kubernetes tolerations, e.g. '[{"key":"dedicated","operator":"Equal","value":"chaos","effect":"NoSchedule"}]'`)
	fs.StringVar(&f.chaosServiceAccounts, "chaos-service-accounts", manifests.DefaultChaosServiceAccount, `service accounts the agent may impersonate to run faults (engines' chaosServiceAccount), comma-separated; "*" allows any`)
	fs.StringVar(&f.chaosNamespaces, "chaos-namespaces", "", `namespaces where engines may run as their chaos service account (impersonated), comma-separated; default: the agent's namespace; in cluster scope each must exist; "*" allows every namespace`)
	fs.StringVar(&f.httpProxy, "http-proxy", "", "HTTP_PROXY of the agent (a URL with credentials goes to the Secret chaos-agent-proxy)")
	fs.StringVar(&f.httpsProxy, "https-proxy", "", "HTTPS_PROXY of the agent (the control-plane link; a URL with credentials goes to the Secret chaos-agent-proxy)")
	fs.StringVar(&f.noProxy, "no-proxy", "", "NO_PROXY of the agent; must cover the Kubernetes API server (e.g. its service IP range and .svc)")
	fs.BoolVar(&f.skipCRDs, "skip-crds", false, "leave the CRDs out of a cluster-scope manifest (they are managed separately)")
	fs.BoolVar(&f.crdsOnly, "crds-only", false, "print only the CRDs (for an administrator, before a namespace-scoped install)")
	fs.StringVar(&f.workflowEngine, "workflow-engine", config.WorkflowEngineArgo, "who runs experiment Workflows: argo (Argo's workflow-controller, installed by this manifest) or native (the agent; no workflow-controller)")
	fs.StringVar(&f.imageRegistry, "image-registry", "", "pull every image from this registry (a mirror, e.g. registry.example.com/mirror): the agent, Argo's controller and executor, and the step images of the Workflows the agent applies")
	fs.StringVar(&f.imagePullSecrets, "image-pull-secret", "", "docker-registry Secret(s) in the namespace to pull images with, comma-separated (you create them): set on the Deployments and on every ServiceAccount, so Workflow step pods get them")
	fs.BoolVar(&f.dropInStepImages, "drop-in-step-images", false, "the step images Workflows name (litmuschaos/k8s, litmuschaos/litmus-checker, chaosnative/...) are chaos-agent's drop-ins (make images, or your mirror of them): tell Argo their entrypoints, which it cannot look up without a registry")
	fs.StringVarP(&f.output, "output", "o", "", "write to this file (mode 0600) instead of standard output")
	return cmd
}

// toOptions turns the flags into options; every problem is reported at once.
func (f *manifestFlags) toOptions(cmd *cobra.Command) (manifests.Options, error) {
	var errs []error
	o := manifests.Options{
		Scope:          config.Scope(f.scope),
		Namespace:      f.namespace,
		ServerAddr:     f.serverAddr,
		InfraID:        f.infraID,
		AccessKey:      f.accessKey,
		InfraConfirmed: f.infraConfirmed,
		Version:        f.version,
		StartTime:      f.startTime,
		SkipSSLVerify:  f.skipSSLVerify,
		CustomTLSCert:  f.customTLSCert,
		Image:          f.image,
		ArgoImage:      f.argoImage,
		ArgoExecImage:  f.argoExecImage,
		HTTPProxy:      f.httpProxy,
		HTTPSProxy:     f.httpsProxy,
		NoProxy:        f.noProxy,
		SkipCRDs:       f.skipCRDs,

		WorkflowEngine:   f.workflowEngine,
		ImageRegistry:    f.imageRegistry,
		DropInStepImages: f.dropInStepImages,
	}
	for s := range strings.SplitSeq(f.imagePullSecrets, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.ImagePullSecrets = append(o.ImagePullSecrets, s)
		}
	}
	if !cmd.Flags().Changed("start-time") {
		o.StartTime = time.Now().UnixMilli()
	}
	if f.accessKeyFile != "" {
		if f.accessKey != "" {
			errs = append(errs, errors.New("--access-key and --access-key-file exclude each other"))
		}
		b, err := os.ReadFile(f.accessKeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("access key file: %w", err))
		}
		o.AccessKey = strings.TrimSpace(string(b))
	}
	sel, err := parseNodeSelector(f.nodeSelector)
	if err != nil {
		errs = append(errs, err)
	}
	o.NodeSelector = sel
	if f.tolerations != "" {
		dec := json.NewDecoder(strings.NewReader(f.tolerations))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o.Tolerations); err != nil {
			errs = append(errs, fmt.Errorf("--tolerations: want a JSON list of tolerations: %w", err))
		}
	}
	for sa := range strings.SplitSeq(f.chaosServiceAccounts, ",") {
		if sa = strings.TrimSpace(sa); sa != "" {
			o.ChaosServiceAccounts = append(o.ChaosServiceAccounts, sa)
		}
	}
	for ns := range strings.SplitSeq(f.chaosNamespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			o.ChaosNamespaces = append(o.ChaosNamespaces, ns)
		}
	}
	return o, errors.Join(errs...)
}

// parseNodeSelector parses key=value[,key=value...].
func parseNodeSelector(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	sel := map[string]string{}
	for pair := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--node-selector %q: want key=value[,key=value...]", s)
		}
		sel[k] = v
	}
	return sel, nil
}
