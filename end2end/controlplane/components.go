package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/server/v3/embed"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	apiserveroptions "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
	controllerapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	controlleroptions "k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
)

// The controllers Wukong's behaviour depends on: namespaces that empty and go away, owner
// references that collect dependents, quota usage that admission checks against, service
// accounts and their CA bundle, and the aggregated admin/edit/view roles.
var controllers = []string{
	"namespace-controller",
	"garbage-collector-controller",
	"resourcequota-controller",
	"serviceaccount-controller",
	"root-ca-certificate-publisher-controller",
	"clusterrole-aggregation-controller",
}

func startEtcd(dir string) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.LogLevel = "error"
	local := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	// Port 0 everywhere: a single member never dials its peer address.
	cfg.ListenClientUrls = []url.URL{local}
	cfg.AdvertiseClientUrls = []url.URL{local}
	cfg.ListenPeerUrls = []url.URL{local}
	cfg.AdvertisePeerUrls = []url.URL{local}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("not ready after 60 s")
	}
}

// compactEtcd drops every revision but the latest, as kube-apiserver's own compaction (every
// 5 minutes, --etcd-compaction-interval) would have done while it was away: a client's older
// resourceVersion then exists neither in etcd nor in the API server's new watch cache.
func compactEtcd(ctx context.Context, e *embed.Etcd) error {
	latest := e.Server.KV().Rev()
	_, err := e.Server.Compact(ctx, &etcdserverpb.CompactionRequest{Revision: latest, Physical: true})
	return err
}

type apiServer struct {
	url  string
	done chan error
}

// startAPIServer serves on `port`, or on a free one when it is 0: a restart on the same
// port and data directory is, to its clients, an API server that came back.
func startAPIServer(ctx context.Context, f credentialFiles, etcdAddr string, port int) (*apiServer, error) {
	s := apiserveroptions.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, set := range s.Flags().FlagSets {
		fs.AddFlagSet(set)
	}
	listener, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, err
	}
	port = listener.Addr().(*net.TCPAddr).Port
	s.SecureServing.Listener = listener
	s.SecureServing.BindPort = port
	args := []string{
		"--etcd-servers=http://" + etcdAddr,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// The address is a loopback one, which Endpoints may not hold.
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=10.0.0.0/16",
		"--tls-cert-file=" + f.servingCert,
		"--tls-private-key-file=" + f.servingKey,
		"--client-ca-file=" + f.caCert,
		"--token-auth-file=" + f.tokens,
		"--authorization-mode=RBAC",
		"--anonymous-auth=false",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + f.serviceAccounts,
		"--service-account-signing-key-file=" + f.serviceAccounts,
		"--requestheader-client-ca-file=" + f.frontProxyCA,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + f.frontProxyCert,
		"--proxy-client-key-file=" + f.frontProxyKey,
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return nil, err
	}
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	completed, err := s.Complete(ctx)
	if err != nil {
		return nil, err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return nil, fmt.Errorf("%v", errs)
	}
	config, err := apiserverapp.NewConfig(completed)
	if err != nil {
		return nil, err
	}
	done, err := config.Complete()
	if err != nil {
		return nil, err
	}
	chain, err := apiserverapp.CreateServerChain(done)
	if err != nil {
		return nil, err
	}
	server := &apiServer{url: fmt.Sprintf("https://127.0.0.1:%d", port), done: make(chan error, 1)}
	go func() {
		prepared, err := chain.PrepareRun()
		if err == nil {
			err = prepared.Run(ctx)
		}
		server.done <- err
	}()
	return server, nil
}

func writeKubeconfig(f credentialFiles, server string) error {
	config := clientcmdapi.NewConfig()
	config.Clusters["controlplane"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: f.caCert}
	config.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: f.adminToken}
	config.Contexts["admin"] = &clientcmdapi.Context{Cluster: "controlplane", AuthInfo: "admin", Namespace: "default"}
	config.CurrentContext = "admin"
	return clientcmd.WriteToFile(*config, f.kubeconfig)
}

func adminConfig(f credentialFiles) (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", f.kubeconfig)
}

// waitHealthy waits for /readyz, which includes the post-start hooks that install RBAC's
// bootstrap roles and the built-in priority levels.
func waitHealthy(ctx context.Context, f credentialFiles, server *apiServer) error {
	config, err := adminConfig(f)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	var last string
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 120*time.Second, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-server.done:
			return false, fmt.Errorf("stopped while starting: %v", err)
		default:
		}
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			last = fmt.Sprintf("%v: %s", err, body)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("not ready: %w (last answer: %s)", err, last)
	}
	return nil
}

func startControllerManager(ctx context.Context, f credentialFiles) error {
	s, err := controlleroptions.NewKubeControllerManagerOptions()
	if err != nil {
		return err
	}
	fs := pflag.NewFlagSet("kube-controller-manager", pflag.ContinueOnError)
	named := s.Flags(controllerapp.KnownControllers(), controllerapp.ControllersDisabledByDefault(), controllerapp.ControllerAliases())
	for _, set := range named.FlagSets {
		fs.AddFlagSet(set)
	}
	s.ParsedFlags = &named
	args := []string{
		"--kubeconfig=" + f.kubeconfig,
		"--authentication-kubeconfig=" + f.kubeconfig,
		"--authorization-kubeconfig=" + f.kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--controllers=" + strings.Join(controllers, ","),
		"--service-account-private-key-file=" + f.serviceAccounts,
		"--root-ca-file=" + f.caCert,
		"--use-service-account-credentials=false",
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	config, err := s.Config(ctx, controllerapp.KnownControllers(), controllerapp.ControllersDisabledByDefault(), controllerapp.ControllerAliases())
	if err != nil {
		return err
	}
	go func() {
		if err := controllerapp.Run(ctx, config.Complete()); err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "controlplane: kube-controller-manager stopped:", err)
		}
	}()
	return nil
}

// installCRDs creates the CRDs in the file and waits until each is Established, so the
// caller's first request for a custom resource finds it served.
func installCRDs(ctx context.Context, f credentialFiles, path string) error {
	raw, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		return err
	}
	var crds []apiextensionsv1.CustomResourceDefinition
	if err := json.Unmarshal(raw, &crds); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	config, err := adminConfig(f)
	if err != nil {
		return err
	}
	client, err := apiextensionsclient.NewForConfig(config)
	if err != nil {
		return err
	}
	api := client.ApiextensionsV1().CustomResourceDefinitions()
	for i := range crds {
		if _, err := api.Create(ctx, &crds[i], metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%s: %w", crds[i].Name, err)
		}
	}
	for _, crd := range crds {
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
			got, err := api.Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			for _, c := range got.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("%s not established: %w", crd.Name, err)
		}
	}
	return nil
}
