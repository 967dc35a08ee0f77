// Command frontend is the demo's STAND-IN for the boutique frontend: it serves GET /cart with
// 200 while the cartservice Deployment has at least one Ready pod in the cluster, and 503
// otherwise. It is a development tool, not part of chaos-agent.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/chaos-agent/chaos-agent/internal/kube"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig")
	namespace := flag.String("namespace", "hce", "namespace of the cartservice")
	selector := flag.String("selector", "app=cartservice", "label selector of the cartservice pods")
	addr := flag.String("addr", "127.0.0.1:8088", "listen address")
	flag.Parse()
	if err := run(*kubeconfig, *namespace, *selector, *addr); err != nil {
		log.Fatal(err)
	}
}

func run(kubeconfig, namespace, selector, addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	sel, err := labels.Parse(selector)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(namespace))
	pods := factory.Core().V1().Pods().Lister()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	mux := http.NewServeMux()
	mux.HandleFunc("/cart", func(w http.ResponseWriter, _ *http.Request) {
		list, _ := pods.Pods(namespace).List(sel)
		for _, p := range list {
			if kube.PodReady(p) {
				fmt.Fprintln(w, "cart: ok (served by", p.Name+")")
				return
			}
		}
		http.Error(w, "cartservice unavailable", http.StatusServiceUnavailable)
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.Background()) }()
	log.Printf("frontend stand-in on http://%s/cart (200 while %s has a Ready pod in %s)", addr, selector, namespace)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		return err
	}
	return nil
}
