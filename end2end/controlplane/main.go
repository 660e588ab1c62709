// Command controlplane runs a real Kubernetes control plane for Wukong's tests in one
// process: etcd (embedded), kube-apiserver and kube-controller-manager from one pinned
// Kubernetes release, on 127.0.0.1 with random ports and a private data directory.
//
// It writes its files into --dir, installs the CRDs given with --crds, prints one JSON line
// on stdout once everything answers, and stops when stdin closes or on SIGINT/SIGTERM, so a
// test that dies never leaves it behind.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"
)

// ready is the line printed on stdout once the control plane serves requests.
type ready struct {
	Server     string `json:"server"`
	Kubeconfig string `json:"kubeconfig"`
	CA         string `json:"ca"`
	Dir        string `json:"dir"`
}

type userFlags []string

func (u *userFlags) String() string     { return strings.Join(*u, " ") }
func (u *userFlags) Set(v string) error { *u = append(*u, v); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "controlplane:", err)
		os.Exit(1)
	}
}

func run() error {
	// Our own flag set: the Kubernetes packages fill the global one with theirs.
	flags := flag.NewFlagSet("controlplane", flag.ExitOnError)
	dir := flags.String("dir", "", "data directory (created if missing; a temporary one when empty)")
	crds := flags.String("crds", "", "a JSON file holding an array of CustomResourceDefinitions to install")
	port := flags.Int("port", 0, "the API server's port on 127.0.0.1; 0 picks a free one")
	compact := flags.Bool("compact", false, "compact etcd's history up to its latest revision before the API server starts")
	var users userFlags
	flags.Var(&users, "user", "NAME[:GROUP,GROUP] for which a bearer token is written to DIR/tokens/NAME (repeatable)")
	_ = flags.Parse(os.Args[1:])

	if *dir == "" {
		tmp, err := os.MkdirTemp("", "controlplane-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	dataDir, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}

	logs, err := os.OpenFile(filepath.Join(dataDir, "controlplane.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logs.Close()
	// The components log a lot at start; stderr keeps only what ends this program.
	klog.LogToStderr(false)
	klog.SetOutput(logs)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// The parent holds stdin open for as long as it wants the control plane.
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()

	files, err := writeCredentials(dataDir, users)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	etcd, err := startEtcd(filepath.Join(dataDir, "etcd"))
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer etcd.Close()
	if *compact {
		if err := compactEtcd(ctx, etcd); err != nil {
			return fmt.Errorf("etcd compaction: %w", err)
		}
	}

	apiserver, err := startAPIServer(ctx, files, etcd.Clients[0].Addr().String(), *port)
	if err != nil {
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	if err := writeKubeconfig(files, apiserver.url); err != nil {
		return err
	}
	if err := waitHealthy(ctx, files, apiserver); err != nil {
		return err
	}
	// The CRDs go first: the quota and garbage collector controllers find the kinds they
	// watch through discovery when they start, and only every 30 s after that.
	if *crds != "" {
		if err := installCRDs(ctx, files, *crds); err != nil {
			return fmt.Errorf("CRDs: %w", err)
		}
	}
	if err := startControllerManager(ctx, files); err != nil {
		return fmt.Errorf("kube-controller-manager: %w", err)
	}

	line, err := json.Marshal(ready{Server: apiserver.url, Kubeconfig: files.kubeconfig, CA: files.caCert, Dir: dataDir})
	if err != nil {
		return err
	}
	fmt.Println(string(line))

	select {
	case <-ctx.Done():
	case err := <-apiserver.done:
		return fmt.Errorf("kube-apiserver stopped: %w", err)
	case err := <-etcd.Err():
		return fmt.Errorf("etcd stopped: %w", err)
	}
	cancel()
	// The API server drains its requests before etcd goes away, but open watches would hold
	// it for its 60 s shutdown timeout: a stopped test cluster should be gone at once, as a
	// crashed one is. etcd still closes cleanly.
	select {
	case <-apiserver.done:
	case <-time.After(3 * time.Second):
	}
	return nil
}
